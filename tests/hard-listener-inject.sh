#!/bin/bash
# SPDX-License-Identifier: ISC
# Fds sent into root's held sockets by another uid (a message on a
# connection to a held listening socket nobody accepted yet, a datagram to a
# held dgram socket) whose last close lingers for an hour: root's release
# closes the broker's copy, the last, and with it what is queued. The closer
# drains them first and closes each under the uid that sent it: root's
# later closes are not held up (hard-inject.py held).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
sb_start
base=$(sb_fd_count "$SB_PID")
listen=$("$SOCKBROKER" bind inj-listen --listen --mode 0666) || fail "bind inj-listen"
dgram=$("$SOCKBROKER" bind inj-dgram --type dgram --mode 0666) || fail "bind inj-dgram"

coproc INJECT { $SB_NOBODY "$PY" "$top_srcdir/tests/hard-inject.py" held "$listen" "$dgram" 2>&1; }
sb_bg $INJECT_PID
read -r -t 20 line <&"${INJECT[0]}" || fail "the hostile client did not start"
assert_eq "$line" sent "the hostile client (fds sent into root's held sockets)"

timeout 20 "$SOCKBROKER" release inj-listen || fail "release inj-listen"
timeout 20 "$SOCKBROKER" release inj-dgram || fail "release inj-dgram"
for i in 1 2 3; do
	sb_still_serves after-inject-$i "the releases of root's injected sockets"
done
# root's sockets are all closed: only the two lingering fds, uid 65534's,
# may wait on its closer thread (one closing for an hour, one behind it)
sb_wait_fds_at_most $((base + 2)) ||
	fail "broker fds $(sb_fd_count "$SB_PID"), baseline $base + 2"
exit 0
