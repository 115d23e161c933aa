# SPDX-License-Identifier: ISC
"""daemon-restart-owner.py: binds KEY with owner lifetime, prints its pid
and waits to be killed.

  daemon-restart-owner.py KEY
"""
import os, sys, time
from sbproto import *
c = Client()
t, i, f, fds = c.call("bind", key=sys.argv[1], flags=LISTEN, lifetime=OWNER)
assert t == "ok", f
print(os.getpid(), flush=True)
while True:
    time.sleep(3600)
