#!/bin/bash
# SPDX-License-Identifier: ISC
# A release whose journal record triggers a compaction stays released:
# after kill -9 and a restart, an owner entry released before the crash
# does not come back (its process still alive), and its name is free.
. "$top_srcdir/tests/lib.sh"
need python3
sb_start

coproc CHURN { python3 "$top_srcdir/tests/daemon-compact-churn.py" "$ROOT" "$top_srcdir/tests" 2>&1; }
sb_bg $CHURN_PID
read -r -t 60 line <&"${CHURN[0]}" || fail "the churning client did not finish"
assert_eq "$line" done "the churning client"

sb_kill9
sb_start
"$SOCKBROKER" list >"$T/list" || fail "list after the restart"
grep -q '^churn ' "$T/list" && fail "a released entry came back after kill -9: $(cat "$T/list")"
grep -q '^keep ' "$T/list" || fail "the kept entry is gone: $(cat "$T/list")"
"$SOCKBROKER" bind churn --lifetime hold >/dev/null || fail "the released name is not free"
exit 0
