# SPDX-License-Identifier: ISC
"""hard-fair.py: fair limits of hard-fair.sh (run as root against a broker
started with --subuid (4242 owns 100000-165535), --max-clients 64
--max-clients-per-uid 8 --max-entries 64 --max-entries-per-uid 4; sbproto on
PYTHONPATH, SOCKBROKER_ROOT set; no arguments): the 16 uids of one person
together get no more than one uid, another user still gets its own, and
with 40 uids filling every slot root still connects and binds.
"""
import errno, os, sys, time
from sbproto import *

# the children hold their connections until this end closes: when this
# process goes, however it goes, they go too
life_r, life_w = os.pipe()

def as_uid(uid, nconn, nbind, tag):
    """In a child of uid: nconn connections, nbind binds; report what was refused."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(life_w)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        conns, res = [], []
        for i in range(nconn):
            try:
                c = Client()
                try:
                    c.send("status")
                except OSError:
                    pass                  # refused and closed: its ERROR is queued
                t, _, f, _ = c.recv()     # a refused connection's ERROR has id 0
                res.append("c" if t == "ok" else "C%d" % f.get("errno", 0))
                if t == "ok":
                    conns.append(c)
            except OSError as e:
                res.append("C?")          # closed before we could read why
        for i in range(nbind):
            if not conns:
                res.append("B?")
                continue
            t, _, f, _ = conns[0].call("bind", key="%s-%d-%d" % (tag, uid, i))
            res.append("b" if t == "ok" else "B%d" % f["errno"])
        os.write(w, (" ".join(res) + "\n").encode())
        os.close(w)
        os.read(life_r, 1)          # EOF once the test is gone
        os._exit(0)
    os.close(w)
    out = os.read(r, 65536).decode().split()
    os.close(r)
    return pid, out

def count(out, what):
    return sum(1 for x in out if x == what)

kids = []
# one person: 8 of its subordinate uids with a connection and a bind each,
# then 8 more with a connection each
out = []
for u in range(100000, 100016):
    pid, o = as_uid(u, 1, 1 if u < 100008 else 0, "sub")
    kids.append(pid)
    out += o
print("# one person, 16 uids: %s" % " ".join(out))
assert count(out, "c") == 8, out
assert count(out, "C%d" % errno.EUSERS) + count(out, "C?") == 8, out
assert count(out, "b") == 4 and count(out, "B%d" % errno.EDQUOT) == 4, out
# its own uid is the same person; another user is not
pid, out = as_uid(4242, 1, 0, "own"); kids.append(pid)
assert out in (["C%d" % errno.EUSERS], ["C?"]), out
pid, out = as_uid(5000, 3, 2, "other"); kids.append(pid)
assert out == ["c", "c", "c", "b", "b"], out
print("ok - a subordinate range is one person: 8 clients, 4 entries in all")
for k in kids:
    os.kill(k, 9); os.waitpid(k, 0)
kids = []
time.sleep(0.2)

# 40 distinct uids take all they can
got_c = got_b = 0
for u in range(6000, 6040):
    pid, out = as_uid(u, 2, 2, "many")
    kids.append(pid)
    got_c += count(out, "c"); got_b += count(out, "b")
print("# 40 uids: %d clients, %d entries" % (got_c, got_b))
# 6 entries of the first part are still there: 54 more fill the 60 of the non-root share
assert got_c == 60 and got_b == 54, (got_c, got_b)
c = Client()
assert c.call("status")[0] == "ok"
for i in range(4):
    t, _, f, _ = c.call("bind", key="root-%d" % i)
    assert t == "ok", f
print("ok - root connects and binds when every other uid's share is taken")
for k in kids:
    os.kill(k, 9); os.waitpid(k, 0)
