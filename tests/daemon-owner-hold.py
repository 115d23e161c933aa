# SPDX-License-Identifier: ISC
"""daemon-owner-hold.py: binds three owner-lifetime entries (a name, the path
key LONG with its proof symlink, and a prepared one), prints its pid and
waits to be killed.

  daemon-owner-hold.py LONG   (SOCKBROKER_ROOT set)
"""
import os, socket, sys, time
from sbproto import *
longp = sys.argv[1]
root = os.environ["SOCKBROKER_ROOT"]
c = Client(root)
t, i, f, fds = c.call("bind", key="own1", flags=LISTEN, lifetime=OWNER)
assert t == "ok", f
keep = [socket.socket(fileno=fds[0])]
os.symlink(short_path(root, longp), longp)
pf = os.open(longp, os.O_PATH | os.O_NOFOLLOW)
t, i, f, fds = c.call("bind", fds=[pf], key=longp, flags=LISTEN, proof=1, has_fd=1)
assert t == "ok", f        # a path defaults to owner lifetime
keep.append(socket.socket(fileno=fds[0]))
t, i, f, fds = c.call("bind", key="own3", flags=PREPARE, lifetime=OWNER)
assert t == "ok" and not fds, f
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(f["short_path"])
s.listen()
assert c.call("bind", key="own3", flags=BOUND)[0] == "ok"
c.close()
print(os.getpid(), flush=True)
while True:
    time.sleep(3600)
