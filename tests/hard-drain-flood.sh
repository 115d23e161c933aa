#!/bin/bash
# SPDX-License-Identifier: ISC
# A client that queued thousands of fds in its own connection behind one
# whose close lingers for an hour, then hung up (hard-drain-flood.py): the
# broker's drain closes that uid's fds on that uid's closer thread and
# queues at most a bounded number, so its fd table stays nearly as it was
# and root's requests are still served.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
sb_start
base=$(sb_fd_count "$SB_PID")

coproc FLOOD { $SB_NOBODY "$PY" "$top_srcdir/tests/hard-drain-flood.py" "$ROOT" 2>&1; }
sb_bg $FLOOD_PID
read -r -t 60 word n <&"${FLOOD[0]}" || fail "the flooding client did not start"
assert_eq "$word" sent "the flooding client"
[ "$n" -gt 1000 ] || fail "only $n fds could be queued in the connection"

# one message's fds (252) may be open on the lingering uid's thread, and
# CLOSER_PENDING_MAX (64) queued for a uid: never the thousands sent
sb_wait_fds_at_most $((base + 400)) ||
	fail "broker fds $(sb_fd_count "$SB_PID"), baseline $base + 400, after $n fds were queued"
sb_still_serves after-flood "a dropped client's connection full of fds"
[ "$(sb_fd_count "$SB_PID")" -le $((base + 400)) ] ||
	fail "broker fds $(sb_fd_count "$SB_PID") after serving, baseline $base + 400"
exit 0
