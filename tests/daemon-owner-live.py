# SPDX-License-Identifier: ISC
"""daemon-owner-live.py: while the owner PID lives, its entries are listed
with its pid, a get is ENXIO and a second bind is EADDRINUSE naming the pid.

  daemon-owner-live.py LONG PID
"""
import errno, os, sys
from sbproto import *
longp, pid = sys.argv[1], int(sys.argv[2])
c = Client()
ents = {e["key"]: e for e in c.list()}
for k in ("own1", longp, "own3"):
    e = ents[k]
    assert e["lifetime"] == OWNER and e["pid"] == pid and e["holders"] == 0, e
    assert os.path.exists(e["short_path"]), e
t, i, f, _ = c.call("get", key="own1")
assert t == "error" and f["errno"] == errno.ENXIO, f
t, i, f, fds = c.call("bind", key="own1")
assert t == "error" and f["errno"] == errno.EADDRINUSE and str(pid) in f["message"], f
print("ok - in use by pid %d: %s" % (pid, f["message"]))
