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

sb_still_serves after-inject "fds queued in a dropped client's connection"
# every other fd is closed: only the hostile uid's own lingering fds may
# wait, on its closer thread, one closing (an hour), the rest queued behind
sb_wait_fds_at_most $((base + 8)) ||
	fail "broker fds $(sb_fd_count "$SB_PID"), baseline $base + 8"
exit 0
