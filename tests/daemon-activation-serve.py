# SPDX-License-Identifier: ISC
"""daemon-activation-serve.py: the socket-activated broker (pid PID) answers
STATUS and BIND on the socket it was given.

  daemon-activation-serve.py PID
"""
import sys
from sbproto import *
c = Client()
t, i, f, _ = c.call("status")
assert t == "ok" and f["pid"] == int(sys.argv[1]), (t, f)
t, i, f, fds = c.call("bind", key="act1", flags=LISTEN)
assert t == "ok", f
print("ok - broker pid %d serves the activated socket" % f.get("pid", int(sys.argv[1])))
