# SPDX-License-Identifier: ISC
"""daemon-compact-churn.py: binds "keep", then 514 bind/release pairs of
"churn", so that the last release is the record that makes the journal
compact; prints "done" and stays alive until its stdin closes.

  daemon-compact-churn.py ROOT TESTSDIR
"""
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
