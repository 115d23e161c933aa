#!/bin/bash
# SPDX-License-Identifier: ISC
# A message with more fds than allowed is refused and its fds are closed off
# the event loop: three fds whose last close lingers for an hour, where two
# are allowed, must not stall the broker (hard-inject.py twofds).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
sb_start
base=$(sb_fd_count "$SB_PID")

coproc INJECT { $SB_NOBODY "$PY" "$top_srcdir/tests/hard-inject.py" twofds "$ROOT" 2>&1; }
sb_bg $INJECT_PID
read -r -t 20 line <&"${INJECT[0]}" || fail "the hostile client did not start"
assert_eq "$line" sent "the hostile client (a message with two lingering fds)"

read -r -t 20 line <&"${INJECT[0]}" || fail "no refusal of a message with two lingering fds"
assert_eq "$line" refused "the hostile client's PUT with two fds"

sb_still_serves after-inject "a message with two lingering fds"
# every other fd is closed: only the hostile uid's own lingering fds may
# wait, on its closer thread, one closing (an hour), the rest queued behind
sb_wait_fds_at_most $((base + 3)) ||
	fail "broker fds $(sb_fd_count "$SB_PID"), baseline $base + 3"
exit 0
