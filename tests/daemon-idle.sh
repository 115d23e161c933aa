#!/bin/bash
# SPDX-License-Identifier: ISC
# --idle-exit: the broker exits 0 when it has had no entries and no clients
# for that long, and not while it has either.
. "$top_srcdir/tests/lib.sh"
need python3
export PYTHONPATH="$top_srcdir/tests"

sb_start --idle-exit 3
python3 - <<'PYEOF' || fail "a client keeps it alive"
import time
from sbproto import *
c = Client()
assert c.call("bind", key="e1")[0] == "ok"
c.close()
c = Client()
t0 = time.time()
while time.time() - t0 < 4:        # an entry keeps the broker alive
    assert c.call("status")[0] == "ok"
    time.sleep(0.1)
assert c.call("release", key="e1")[0] == "ok"
t0 = time.time()
while time.time() - t0 < 3.5:      # so does a client
    assert c.call("status")[0] == "ok"
    time.sleep(0.1)
c.close()
PYEOF
wait "$SB_PID"
rc=$?
SB_PID=
assert_eq "$rc" 0 "exit status after idling"
grep -q "idle: stopping" "$T/broker.log" || fail "no idle message"
