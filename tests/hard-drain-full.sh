#!/bin/bash
# SPDX-License-Identifier: ISC
# As hard-listener-inject.sh, but the hostile uid's closer queue is full
# first (a lingering close, fds behind it up to the limit): the drain of
# root's released sockets must still hand that uid's lingering fds to it,
# never close them on root's closer thread, so root's later closes go on
# (hard-inject.py held-full).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
sb_start
listen=$("$SOCKBROKER" bind inj-listen --listen --mode 0666) || fail "bind inj-listen"
dgram=$("$SOCKBROKER" bind inj-dgram --type dgram --mode 0666) || fail "bind inj-dgram"
chmod 755 "$T"

coproc INJECT { $SB_NOBODY "$PY" "$top_srcdir/tests/hard-inject.py" held-full "$ROOT" "$listen" "$dgram" 2>&1; }
sb_bg $INJECT_PID
read -r -t 60 line <&"${INJECT[0]}" || fail "the hostile client did not start"
assert_eq "$line" sent "the hostile client (its queue full, fds sent into root's held sockets)"
timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stalls"
full=$(sb_fd_count "$SB_PID")

timeout 20 "$SOCKBROKER" release inj-listen || fail "release inj-listen"
timeout 20 "$SOCKBROKER" release inj-dgram || fail "release inj-dgram"
for i in 1 2 3; do
	sb_still_serves after-full-$i "the releases of root's injected sockets"
done
# root's sockets are all closed; uid 65534's queue gains its two lingering
# fds (the accepted connection, the datagram's fd) and keeps what it had
sb_wait_fds_at_most $((full + 2)) ||
	fail "broker fds $(sb_fd_count "$SB_PID"), $full with the queue full, + 2"
exit 0
