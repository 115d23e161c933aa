#!/bin/bash
# SPDX-License-Identifier: ISC
# Pending PREPAREs are bounded (hard-prepare.py): a prepared directory is
# its client's until BOUND, so one person (uid 65534 and its subordinate
# range, here uid 100000) may have 8 pending; the 9th, of either uid, is
# refused with EAGAIN and the limit; root is served meanwhile. A prepared
# entry that is not BOUND within --prepare-timeout is released, its
# directory removed, and the person may PREPARE again; one that was BOUND
# in time stays. An ADOPTed entry (its directory the broker's) is no
# pending PREPARE, after a re-exec too: it does not count against the 8;
# but one never BOUND is released after --prepare-timeout too, one BOUND
# stays.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
SUB="setpriv --reuid=100000 --regid=100000 --clear-groups"
export PYTHONPATH="$top_srcdir/tests" SOCKBROKER_ROOT="$ROOT"
H="$top_srcdir/tests/hard-prepare.py"
echo "65534:100000:65536" >"$T/subuid"
sb_start --prepare-timeout 3 --subuid "$T/subuid"
chmod 755 "$T"

# one bound in time: not pending, never reclaimed
$SB_NOBODY "$SOCKBROKER" bind kept --listen >/dev/null || fail "bind kept"
# ADOPTed, never BOUND, then a re-exec: still no pending PREPARE
$SB_NOBODY $PY "$H" adopt adkeep bound || fail "ADOPT adkeep"
$SB_NOBODY $PY "$H" adopt adgone || fail "ADOPT adgone"
# ADOPTed with owner lifetime by a program slow to listen: it stays while it runs
$SB_NOBODY $PY "$H" adoptowner adslow 30 >"$T/adslow.out" &
slow=$!
sb_bg $slow
sb_wait_for grep -q adopted "$T/adslow.out" || fail "ADOPT adslow"
"$SOCKBROKER" reexec || fail "sockbroker reexec"
$SB_NOBODY $PY "$H" fill p 7 || fail "7 PREPAREs of uid 65534"
$SUB $PY "$H" fill q 1 || fail "an 8th PREPARE, of uid 100000 (the same person)"
out=$($SB_NOBODY $PY "$H" over p8) || fail "a 9th PREPARE of uid 65534"
assert_contains "$out" "the limit is 8" "the refusal"
$SUB $PY "$H" over q1 >/dev/null || fail "a 9th PREPARE of uid 100000"
$PY "$H" again rootkey >/dev/null || fail "root is refused a PREPARE"
"$SOCKBROKER" release rootkey || fail "release rootkey"

sp=$("$SOCKBROKER" resolve p0) || fail "resolve p0"
d=$(dirname "$sp")
[ -d "$d" ] || fail "no directory for p0"
sb_wait_for sh -c "! '$SOCKBROKER' resolve p0" || fail "p0 was not released after --prepare-timeout"
sb_wait_for test ! -e "$d" || fail "the directory of p0 is left"
grep -q 'not bound within 3 s (--prepare-timeout): released' "$T/broker.log" ||
	fail "no log of the release"
$SB_NOBODY $PY "$H" again p8 >/dev/null || fail "a PREPARE after the others were released"
"$SOCKBROKER" resolve kept >/dev/null || fail "the bound entry was released"
"$SOCKBROKER" resolve adkeep >/dev/null || fail "the ADOPTed, BOUND entry was released"
sb_wait_for sh -c "! '$SOCKBROKER' resolve adgone" ||
	fail "an ADOPTed entry never BOUND was not released after --prepare-timeout"
"$SOCKBROKER" resolve adslow >/dev/null ||
	fail "an ADOPTed entry of owner lifetime was released while its process ran"
kill $slow
sb_wait_for sh -c "! '$SOCKBROKER' resolve adslow" ||
	fail "an ADOPTed entry of owner lifetime outlived its process"
exit 0
