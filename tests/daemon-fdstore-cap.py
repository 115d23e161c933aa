#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""daemon-fdstore-cap.py: the fd store is capped (run by
daemon-fdstore-cap.sh; fakesd.py plays the service manager, FDSTORE=3).
"""
import os, signal, socket, threading, time
from sbproto import *
import fakesd

T, root, broker = os.environ["T"], os.environ["SOCKBROKER_ROOT"], os.environ["SOCKBROKERD"]
sd = fakesd.ServiceManager(T, root, broker, strict=True)
stored = sd.stored


def start():
    return sd.start(FDSTORE="3")


def eid(key):
    return fakesd.entry_id(root, key)


def warnings():
    return open(T + "/broker.log").read().count("fd store is full")

def bind(c, k):
    t, i, f, fds = c.call("bind", key=k, flags=LISTEN)
    assert t == "ok", f
    for fd in fds:
        os.close(fd)

# 1. three held entries are stored, the fourth and fifth are not: one warning
pid = start()
c = Client(root)
for k in ("h1", "h2", "h3", "h4", "h5"):
    bind(c, k)
assert stored() == {eid(k) for k in ("h1", "h2", "h3")}, stored()
assert warnings() == 1, open(T + "/broker.log").read()
assert "the socket of h4 and of the next held entries is not stored" in open(T + "/broker.log").read()
print("ok - FDSTORE=3: three fds stored, one warning")

# 2. a release makes room for the next one
assert c.call("release", key="h1")[0] == "ok"
bind(c, "h6")
assert stored() == {eid(k) for k in ("h2", "h3", "h6")}, stored()
print("ok - a release makes room")

# 3. a re-exec keeps all held entries, and knows which are stored
t, i, f, _ = c.call("reexec")
assert t == "ok", f
c.close()
end = time.time() + 10
while "re-executed" not in open(T + "/broker.log").read():
    assert time.time() < end, "no re-exec"
    time.sleep(0.05)
c = Client(root)
ents = {e["key"]: e for e in c.list()}
assert sorted(ents) == ["h2", "h3", "h4", "h5", "h6"], sorted(ents)
assert all(e["holders"] == 1 for e in ents.values()), ents
bind(c, "h7")               # the store is still full: not stored
assert stored() == {eid(k) for k in ("h2", "h3", "h6")}, stored()
assert c.call("release", key="h2")[0] == "ok"
assert c.call("release", key="h4")[0] == "ok"   # not stored: no FDSTOREREMOVE
bind(c, "h8")
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
print("ok - every held entry survives a re-exec, the count of stored fds too")

# 4. a restart of the service: the stored ones come back, the others are
#    reported and cleaned
c.close()
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
open(T + "/broker.log", "w").close()
pid = start()
c = Client(root)
ents = {e["key"]: e for e in c.list()}
assert sorted(ents) == ["h3", "h6", "h8"], sorted(ents)
log = open(T + "/broker.log").read()
for k in ("h5", "h7"):
    assert "entry %s: the previous broker held its socket and it did not come back: released" % k in log, log
    assert not os.path.exists(os.path.dirname(short_path(root, k))), k
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
bind(c, "h9")               # 3 of 3 again
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
assert warnings() == 1, log
print("ok - a restart keeps the stored entries and releases the others")
c.close()
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
