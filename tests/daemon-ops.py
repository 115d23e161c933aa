#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""daemon-ops.py LONG-PATH: every operation of the broker at
$SOCKBROKER_ROOT through the raw protocol (sbproto.py), run by
daemon-ops.sh: hello, bind (name, path with proof at LONG-PATH,
prepare/bound, rebind of a held socket), get, put, resolve, wait, release,
list, status.
"""
import errno, os, socket, stat, sys, threading
from sbproto import *

root = os.environ["SOCKBROKER_ROOT"]
longp = sys.argv[1]
c = Client(root)

def ok(t, f, what):
    assert t == "ok", "%s: %s %r" % (what, t, f)
    print("ok - " + what)

def err(t, f, e, what):
    assert t == "error" and f["errno"] == e, "%s: %s %r, want %s" % (
        what, t, f, errno.errorcode[e])
    assert f.get("message"), what
    print("ok - %s: %s" % (what, f["message"]))

t, i, f, _ = c.call("hello", version_min=1, version_max=3)
ok(t, f, "hello")
assert f["version_min"] == 1 and f["version_max"] == 1
t, i, f, _ = c.call("hello", version_min=2, version_max=3)
err(t, f, errno.EPROTONOSUPPORT, "hello without a common version")

# bind a name: a listening stream socket comes back, held by the broker
t, i, f, fds = c.call("bind", key="svc1", flags=LISTEN)
ok(t, f, "bind svc1")
sp = f["short_path"]
assert sp == short_path(root, "svc1"), (sp, short_path(root, "svc1"))
assert f["has_fd"] == 1 and len(fds) == 1
s1 = socket.socket(fileno=fds[0])
assert s1.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
assert s1.getsockname() == sp, s1.getsockname()
st = os.lstat(sp)
assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
dst = os.lstat(os.path.dirname(sp))
# the broker's, not writable or listable by others; the owner crosses it as a group member
assert stat.S_IMODE(dst.st_mode) == 0o710 and dst.st_uid == os.geteuid(), oct(dst.st_mode)
assert stat.S_IMODE(os.lstat(os.path.dirname(os.path.dirname(sp))).st_mode) == 0o711  # crossable, not listable

# get hands out the same socket; a client connects and is accepted through it
t, i, f, fds = c.call("get", key="svc1")
ok(t, f, "get svc1")
assert f["short_path"] == sp and f["kind"] == KIND_SOCKET and len(fds) == 1
s2 = socket.socket(fileno=fds[0])
assert os.fstat(s2.fileno()).st_ino == os.fstat(s1.fileno()).st_ino
cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cl.connect(sp)
a, _ = s2.accept()
cl.send(b"ping")
assert a.recv(4) == b"ping"
a.close(); cl.close(); s2.close()

# binding it again (a restarted server) gives the held socket back
t, i, f, fds = c.call("bind", key="svc1", flags=LISTEN)
ok(t, f, "bind svc1 again: the held socket comes back")
assert os.fstat(fds[0]).st_ino == os.fstat(s1.fileno()).st_ino
os.close(fds[0])
t, i, f, fds = c.call("bind", key="svc1", socktype=socket.SOCK_DGRAM)
err(t, f, errno.EADDRINUSE, "bind svc1 as another type")

# modes and groups: the directory lets in (x, never r) the classes the socket's mode does
t, i, f, fds = c.call("bind", key="svc2", socktype=socket.SOCK_SEQPACKET, flags=LISTEN,
                      mode=0o660, gid=os.getgid())
ok(t, f, "bind svc2 seqpacket 0660")
os.close(fds[0])
assert stat.S_IMODE(os.lstat(f["short_path"]).st_mode) == 0o660
assert stat.S_IMODE(os.lstat(os.path.dirname(f["short_path"])).st_mode) == 0o710
t, i, f, fds = c.call("bind", key="svc3", socktype=socket.SOCK_DGRAM, mode=0o666)
ok(t, f, "bind svc3 dgram 0666")
os.close(fds[0])
assert stat.S_IMODE(os.lstat(os.path.dirname(f["short_path"])).st_mode) == 0o711
t, i, f, fds = c.call("bind", key="svc4", socktype=socket.SOCK_DGRAM, flags=LISTEN)
err(t, f, errno.EINVAL, "a listening dgram socket")
t, i, f, fds = c.call("bind", key="svc4", socktype=99)
err(t, f, errno.EINVAL, "an unknown socket type")
t, i, f, fds = c.call("bind", key="svc4", mode=0o1777)
err(t, f, errno.EINVAL, "a mode over 0777")
t, i, f, fds = c.call("bind", key="svc4", lifetime=7)
err(t, f, errno.EINVAL, "an unknown lifetime")

# resolve
t, i, f, _ = c.call("resolve", key="svc1")
ok(t, f, "resolve svc1")
assert f["short_path"] == sp and f["kind"] == KIND_SOCKET
t, i, f, _ = c.call("resolve", key="nothing")
err(t, f, errno.ENOENT, "resolve a key without entry")

# put any fd under a name; get it back
r, w = os.pipe()
t, i, f, _ = c.call("put", fds=[w], key="pipe1", has_fd=1)
ok(t, f, "put pipe1")
os.close(w)
t, i, f, fds = c.call("get", key="pipe1")
ok(t, f, "get pipe1")
assert f["kind"] == KIND_FD and "short_path" not in f and len(fds) == 1
os.write(fds[0], b"x")
assert os.read(r, 1) == b"x"
os.close(fds[0])
r2, w2 = os.pipe()
t, i, f, _ = c.call("put", fds=[w2], key="pipe1", has_fd=1)
ok(t, f, "put over pipe1 by its owner")
t, i, f, fds = c.call("get", key="pipe1")
os.write(fds[0], b"y")
assert os.read(r2, 1) == b"y"
os.close(fds[0]); os.close(w2)
t, i, f, _ = c.call("put", fds=[r], key="/tmp/x", has_fd=1)
err(t, f, errno.EINVAL, "put a path key")
t, i, f, _ = c.call("bind", key="pipe1")
err(t, f, errno.EADDRINUSE, "bind over an fd entry")

# wait: now, not at all, later, too late
t, i, f, _ = c.call("wait", key="svc1", timeout_ms=1000)
ok(t, f, "wait for an existing key")
t, i, f, _ = c.call("wait", key="later")
err(t, f, errno.ETIMEDOUT, "wait without a timeout for a missing key")
t, i, f, _ = c.call("wait", key="later", timeout_ms=50)
err(t, f, errno.ETIMEDOUT, "wait 50 ms for a missing key")
w1 = Client(root)
mid = w1.send("wait", key="later", timeout_ms=20000)
t, i, f, fds = c.call("bind", key="later")
ok(t, f, "bind later")
os.close(fds[0])
t, i, f, _ = w1.recv()
ok(t, f, "a pending wait is answered by the bind")
assert i == mid and f["short_path"] == short_path(root, "later")
# a waiter that goes away is forgotten
w2c = Client(root)
w2c.send("wait", key="never", timeout_ms=20000)
w2c.close()

# prepare / bound: the client binds its own socket in the prepared directory
t, i, f, fds = c.call("bind", key="prep1", flags=PREPARE, mode=0o600)
ok(t, f, "bind prep1 prepare")
assert not fds and "has_fd" not in f
psp = f["short_path"]
assert os.stat(os.path.dirname(psp)).st_uid == os.getuid()
w1.send("wait", key="prep1", timeout_ms=20000)
t, i, f, _ = c.call("get", key="prep1")
err(t, f, errno.ENXIO, "get a prepared, unbound entry")
own = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
own.bind(psp)
own.listen()
t, i, f, _ = c.call("bind", key="prep1", flags=BOUND)
ok(t, f, "bind prep1 bound")
t, i, f, _ = w1.recv()
ok(t, f, "the waiter of prep1 wakes at BOUND")
t, i, f, _ = c.call("bind", key="nope", flags=BOUND)
err(t, f, errno.ENOENT, "bound without prepare")
t, i, f, _ = c.call("bind", key="svc1", flags=BOUND)
err(t, f, errno.EINVAL, "bound on an entry that was not prepared")
# BOUND with the socket attached: the broker holds it
t, i, f, fds = c.call("bind", key="prep2", flags=PREPARE)
own2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
own2.bind(f["short_path"])
own2.listen()
t, i, f, _ = c.call("bind", fds=[own2.fileno()], key="prep2", flags=BOUND, has_fd=1)
ok(t, f, "bind prep2 bound with its socket")
t, i, f, fds = c.call("get", key="prep2")
ok(t, f, "get prep2: held")
os.close(fds[0])

# a path key: the caller proves it may create the path with a symlink there
lsp = short_path(root, longp)
t, i, f, _ = c.call("bind", key=longp, flags=LISTEN)
err(t, f, errno.EACCES, "a path key without proof")
os.symlink("/somewhere/else", longp)
pf = os.open(longp, os.O_PATH | os.O_NOFOLLOW)
t, i, f, _ = c.call("bind", fds=[pf], key=longp, flags=LISTEN, proof=1, has_fd=1)
err(t, f, errno.EACCES, "a proof pointing elsewhere")
os.close(pf); os.unlink(longp)
os.symlink(lsp, longp + ".other")
pf = os.open(longp + ".other", os.O_PATH | os.O_NOFOLLOW)
t, i, f, _ = c.call("bind", fds=[pf], key=longp, flags=LISTEN, proof=1, has_fd=1)
err(t, f, errno.EACCES, "a proof that is not at the path")
os.close(pf)
os.rename(longp + ".other", longp)
pf = os.open(longp, os.O_PATH | os.O_NOFOLLOW)
t, i, f, fds = c.call("bind", fds=[pf], key=longp, flags=LISTEN, proof=1, has_fd=1,
                      lifetime=HOLD)
ok(t, f, "bind a %d-byte path with its proof" % len(longp))
os.close(pf)
assert f["short_path"] == lsp and len(lsp) < 108
ps = socket.socket(fileno=fds[0])
cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cl.connect(lsp)
cl.close()
ps.close()
t, i, f, _ = c.call("bind", key="svc9", proof=1)
err(t, f, errno.EINVAL, "a proof with a name key")

# list and status
ents = {e["key"]: e for e in c.list()}
for k in ("svc1", "svc2", "svc3", "pipe1", "later", "prep1", "prep2", longp):
    assert k in ents, (k, list(ents))
e = ents["svc1"]
assert e["kind"] == KIND_SOCKET and e["uid"] == os.getuid() and e["lifetime"] == HOLD
assert e["holders"] == 1 and e["listening"] == 1 and e["short_path"] == sp
assert e["socktype"] == socket.SOCK_STREAM and e["mode"] == 0o600
assert ents["prep1"]["holders"] == 0 and ents["pipe1"]["kind"] == KIND_FD
print("ok - list: %d entries" % len(ents))
t, i, f, _ = c.call("status")
ok(t, f, "status")
assert f["entries"] == len(ents) and f["clients"] >= 2 and f["version_max"] == 1

# release: the socket file and its directory go
for k in ("svc1", "pipe1", longp):
    t, i, f, _ = c.call("release", key=k)
    ok(t, f, "release " + k[:40])
assert not os.path.exists(sp) and not os.path.exists(os.path.dirname(sp))
t, i, f, _ = c.call("get", key="svc1")
err(t, f, errno.ENOENT, "get a released key")
t, i, f, _ = c.call("release", key="svc1")
err(t, f, errno.ENOENT, "release a released key")
os.unlink(longp)
