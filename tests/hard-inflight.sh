#!/bin/bash
# SPDX-License-Identifier: ISC
# A client's connection to control is closed off the event loop, drained
# first: fds it queued in its connection (messages the broker did not read
# yet) whose last close lingers for an hour must not stall the broker when
# it drops the client (hard-inject.py inflight).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
sb_start
base=$(sb_fd_count "$SB_PID")

coproc INJECT { $SB_NOBODY "$PY" "$top_srcdir/tests/hard-inject.py" inflight "$ROOT" 2>&1; }
sb_bg $INJECT_PID
read -r -t 20 line <&"${INJECT[0]}" || fail "the hostile client did not start"
assert_eq "$line" sent "the hostile client (fds queued in a dropped client's connection)"

# the broker still answers everyone (a hang detector, not a timing test)
for i in 1 2 3; do
	timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stalls on fds queued in a dropped client's connection"
done
short=$(timeout 20 "$SOCKBROKER" bind after-inject --listen) || fail "bind after fds queued in a dropped client's connection"
[ -S "$short" ] || fail "no socket at $short"
timeout 20 "$SOCKBROKER" release after-inject || fail "release after fds queued in a dropped client's connection"
# every other fd is closed: only the hostile uid's own lingering fds may
# wait, on its closer thread, one closing (an hour), the rest queued behind
_fds_le() { [ "$(sb_fd_count "$SB_PID")" -le $((base + 8)) ]; }
sb_wait_for _fds_le || fail "broker fds $(sb_fd_count "$SB_PID"), baseline $base + 8"
exit 0
