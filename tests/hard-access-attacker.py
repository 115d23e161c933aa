# SPDX-License-Identifier: ISC
"""hard-access-attacker.py: what uid 65534 may not do to root's entries of
hard-access.sh (connect rights never grant accept, ...; sbproto and sbtest
on PYTHONPATH, SOCKBROKER_ROOT set); each check says "ok" via sbtest.

  hard-access-attacker.py SP ROOT   SP: the short path of root's "svc",
                                    ROOT: the broker's root
"""
import errno, os, socket, sys
from sbproto import *
import sbtest as hl
sp, root = sys.argv[1:3]
c = Client()

# 1. connect rights never grant accept
for key in ("svc", "putsvc"):
    hl.expect_error(c.call("get", key=key), errno.EACCES, "never accept", "get " + key)
hl.ok("a 0666 listening socket (bound or put) is not handed to uid 65534")
t, i, f, fds = c.call("resolve", key="svc")
assert t == "ok" and f["short_path"] == sp, (t, f)
s = socket.socket(socket.AF_UNIX); s.connect(sp); s.close()
hl.ok("uid 65534 may still resolve and connect to it")
t, i, f, fds = c.call("get", key="shared")
assert t == "ok" and len(fds) == 1, (t, f)
os.close(fds[0])
hl.ok("the x bit (0667) grants get")

# 2. a stranger learns no more than "no such entry"
def err(reply):
    t, i, f, fds = reply
    for x in fds:
        os.close(x)
    assert t == "error", (t, f)
    return f["errno"], f["message"]
for op in ("get", "resolve", "release"):
    a = err(c.call(op, key="secret"))
    b = err(c.call(op, key="nosuch"))
    assert a[0] == errno.ENOENT and a[1].replace("secret", "nosuch") == b[1], (op, a, b)
a = err(c.call("wait", key="secret", timeout_ms=50))
b = err(c.call("wait", key="nosuch", timeout_ms=50))
assert a[0] == errno.ETIMEDOUT and a[1].replace("secret", "nosuch") == b[1], (a, b)
a = err(c.call("bind", key="secret", flags=LISTEN))
assert "uid 0" not in a[1] and "0600" not in a[1], a
assert not [e for e in c.list() if e["key"] == "secret"], "list shows secret"
hl.ok("errors, wait and list about a private entry are those of an absent key")
xx = os.path.dirname(os.path.dirname(sp))
try:
    os.listdir(xx)
    raise AssertionError("uid 65534 lists %s" % xx)
except PermissionError:
    pass
hl.ok("%s is not listable by uid 65534" % xx)

# 3. every reply carries the id of its request, 0 where none could be read
c.send_raw(encode("status", 1234))
c.send_raw(b"\xff" * (MSG_MAX + 100))     # no header: nothing could be read
t, i, f, fds = c.recv()
assert t == "ok" and i == 1234, (t, i, f)
t, i, f, fds = c.recv()
assert t == "error" and i == 0, (t, i, f)
hl.ok("an unreadable message is answered with id 0, not an earlier request's")
