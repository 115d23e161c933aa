#!/bin/bash
# SPDX-License-Identifier: ISC
# A release whose journal record triggers a compaction stays released:
# after kill -9 and a restart, an owner entry released before the crash
# does not come back (its process still alive), and its name is free.
. "$top_srcdir/tests/lib.sh"
need python3
sb_start

cat >"$T/churn.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import sbproto
c = sbproto.Client(sys.argv[1])
assert c.call("bind", key="keep", lifetime=2)[0] == "ok"
# The journal compacts once it holds more than 2 x live + 1024 records: with
# "keep" and 514 bind/release pairs, the release of the last pair is the
# record that crosses it (state.c), so the compaction runs inside that
# release and nothing follows it in the journal.
for i in range(514):
    t = c.call("bind", key="churn", lifetime=2)[0]
    assert t == "ok", "bind churn %d: %s" % (i, t)
    t = c.call("release", key="churn")[0]
    assert t == "ok", "release churn %d: %s" % (i, t)
print("done", flush=True)
sys.stdin.read()     # stay alive: an owner entry of ours would be kept
PY
coproc CHURN { python3 "$T/churn.py" "$ROOT" "$top_srcdir/tests" 2>&1; }
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
