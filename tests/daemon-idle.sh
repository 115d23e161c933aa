#!/bin/bash
# SPDX-License-Identifier: ISC
# --idle-exit: the broker exits 0 when it has had no entries and no clients
# for that long, and not while it has either.
. "$top_srcdir/tests/lib.sh"
need python3
export PYTHONPATH="$top_srcdir/tests"

sb_start --idle-exit 3
python3 "$top_srcdir/tests/daemon-idle-alive.py" || fail "a client keeps it alive"
wait "$SB_PID"
rc=$?
SB_PID=
assert_eq "$rc" 0 "exit status after idling"
grep -q "idle: stopping" "$T/broker.log" || fail "no idle message"
