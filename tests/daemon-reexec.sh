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
