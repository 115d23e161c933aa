#!/bin/bash
# SPDX-License-Identifier: ISC
# Re-exec under load: while clients hammer the broker (persistent
# connections, new connections, pending waits), `sockbroker reexec` and
# SIGHUP re-execute it; no request fails, held sockets and connections
# queued on them survive, the pid stays the same.
. "$top_srcdir/tests/lib.sh"
need python3
export PYTHONPATH="$top_srcdir/tests"

sb_start
python3 "$top_srcdir/tests/daemon-reexec.py" "$SB_PID" "$SOCKBROKER" || fail "re-exec under load"
n=$(grep -c "re-executed: took over" "$T/broker.log")
assert_eq "$n" 6 "re-executions"
# only root or the broker's uid may ask
if $SB_NOBODY true 2>/dev/null && [ -x /usr/bin/python3 ]; then
	out=$($SB_NOBODY /usr/bin/python3 "$top_srcdir/tests/sbproto.py" reexec) && fail "nobody re-executed the broker"
	assert_contains "$out" "(EPERM)" "reexec by another uid"
fi
sb_stop

# the new image loads the table from the previous image's snapshot: a
# journal of one record per entry is not written again at a re-exec (it
# is what a compaction would write); one with records to drop is, once
# the new image serves; the new image has every entry either way
: >"$T/broker.log"
sb_start
python3 -c 'from sbproto import *; c = Client(); assert all(c.call("bind", key=k, flags=PREPARE)[0] == "ok" for k in ("rx1", "rx2"))' \
	|| fail "prepare rx1, rx2"
ino=$(stat -c %i "$ROOT/state")
"$SOCKBROKER" reexec >/dev/null || fail "reexec"
sb_wait_for eval '[ "$(grep -c "re-executed: took over" "$T/broker.log")" = 1 ]' || fail "no re-exec"
"$SOCKBROKER" status >/dev/null || fail "status after the re-exec"
assert_eq "$(stat -c %i "$ROOT/state")" "$ino" "the compact journal's inode after a re-exec"
"$SOCKBROKER" release rx1 >/dev/null || fail "release rx1"
"$SOCKBROKER" reexec >/dev/null || fail "reexec"
sb_wait_for eval '[ "$(grep -c "re-executed: took over" "$T/broker.log")" = 2 ]' || fail "no second re-exec"
python3 -c 'from sbproto import *; ks = [e["key"] for e in Client().list()]; assert ks == ["rx2"], ks' \
	|| fail "entries after the second re-exec"
sb_wait_for eval '[ "$(stat -c %i "$ROOT/state")" != "$ino" ]' ||
	fail "a journal with a DEL record was not compacted after the re-exec"
sb_stop
