#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hard-hostile.py PID: hostile clients against a broker started with
--client-timeout 1 (run by hard-hostile.sh).

Beyond daemon-bad.sh: every prefix of a real message, random garbage,
every version but ours, SCM_MAX_FD fds and fds split over two headers,
fds of the wrong kind for each request (proofs that are files,
directories, sockets, FIFOs, symlinks elsewhere; fds on requests that take
none; BOUND with a socket bound elsewhere), clients that stall (silent,
not reading their last reply, in the middle of a LIST). Each is refused
with the errno it should get or dropped; a good client is served after
each; every fd sent is closed by the broker (a pipe whose read end went
to the broker sees EPIPE once the broker closed it); the broker's fd
count and VmRSS come back to their baseline.
"""
import errno
import os
import random
import socket
import stat
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import *  # noqa: E402,F401

import sbtest as hl  # noqa: E402

pid = int(sys.argv[1])
root = os.environ["SOCKBROKER_ROOT"]
T = os.environ["T"]


def served():
    hl.served(root, pid)


def fresh():
    return Client(root, timeout=5)


def dropped_after(c, name):
    assert c.is_closed(), "%s: the connection was not closed" % name
    c.close()


def bad(name, data, fds=(), want=None, keep=False, cmsgs=None):
    """Send data on a new connection; want an ERROR errno (None: dropped
    without a reply). keep: the connection must stay open."""
    return hl.bad(root, pid, name, data, fds, want, keep, cmsgs)


class Pipe:
    """A pipe whose read end is sent away: closed() tells whether every
    copy of the read end is gone (a write then fails with EPIPE)."""

    def __init__(self):
        self.r, self.w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.w, False)

    def send_copies(self, n):
        return [self.r] * n

    def closed(self):
        os.close(self.r) if self.r >= 0 else None
        self.r = -1

        def gone():
            try:
                os.write(self.w, b"x")
                return False
            except BrokenPipeError:
                return True
            except BlockingIOError:
                return False
        ok = hl.settle(gone)
        os.close(self.w)
        return ok


served()
watch = hl.Watch(pid)

# --- messages -------------------------------------------------------------
m = encode("bind", 7, key="a-name", socktype=1, flags=LISTEN, mode=0o600, lifetime=HOLD)
for n in range(0, len(m)):
    c, (t, i, f, _) = hl.exchange(root, m[:n])
    if n == 0:
        assert t is None, "empty datagram: %s" % t
    else:
        assert t == "error" and f["errno"] == errno.EBADMSG, "prefix %d: %s %r" % (n, t, f)
    dropped_after(c, "prefix %d" % n)
served()
hl.ok("every prefix (0..%d bytes) of a bind message: EBADMSG and dropped" % (len(m) - 1))

rng = random.Random(5)
for n in range(300):
    data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))
    if n % 3 == 0:   # a real header in front of random fields
        data = struct.pack("=IHHII", MAGIC, VERSION, rng.choice(list(TYPES.values())),
                           16 + len(data), n) + data
    c, (t, i, f, rfds) = hl.exchange(root, data)
    assert t in ("error", "ok", "end", "entry", None), (n, t)
    if t == "error":
        assert f["errno"] in (errno.EBADMSG, errno.EPROTO, errno.EINVAL, errno.ENOENT,
                              errno.EPROTONOSUPPORT, errno.ENAMETOOLONG, errno.EACCES), (n, f)
    for x in rfds:
        os.close(x)
    c.close()
served()
hl.ok("300 random datagrams (a third with a valid header): refused, broker serving")

for v in (0, 2, 3, 0x100, 0xFFFF):
    f = bad("version %d" % v, encode("status", 9, version=v), want=errno.EPROTONOSUPPORT)
    assert ("version %d " % v) in f["message"], f
for lo, hi in ((2, 5), (0, 0)):
    f = bad("hello %d..%d" % (lo, hi), encode("hello", 1, version_min=lo, version_max=hi),
            want=errno.EPROTONOSUPPORT, keep=True)
hl.ok("every other version: EPROTONOSUPPORT naming it; HELLO without ours refused, kept")

bad("SB_MSG_MAX + 1 bytes", encode("get", 5, key="k", raw=b"\0" * (8192 + 1 - 16 - 6)),
    want=errno.EMSGSIZE)
bad("64 KiB", encode("get", 5, raw=b"\0" * 65000), want=errno.EMSGSIZE)
bad("field length 0xffff", encode("get", 5, raw=struct.pack("=HH", 1, 0xFFFF) + b"k\0"),
    want=errno.EBADMSG)
bad("key of 4096 bytes", encode("get", 5, key="/" + "k" * 4095), want=errno.EPROTO)
bad("message of 512 bytes", encode("error", 5, errno=1, message="m" * 512), want=errno.EPROTO)
bad("u32 of 3 bytes", encode("get", 5, key="k", raw=struct.pack("=HH", 2, 3) + b"abc"),
    want=errno.EPROTO)
bad("NUL inside a key", encode("get", 5, raw=struct.pack("=HH", 1, 4) + b"a\0b\0"),
    want=errno.EPROTO)
hl.ok("oversized and malformed fields refused")
watch.check("malformed messages", served=served)

# --- fds ------------------------------------------------------------------
p = Pipe()
bad("SCM_MAX_FD (253) fds", encode("put", 3, key="x", has_fd=1), fds=p.send_copies(253),
    want=errno.EBADMSG)
assert p.closed(), "the broker kept some of 253 fds"
p = Pipe()
one = struct.pack("=i", p.r)
bad("two SCM_RIGHTS headers of one fd", encode("put", 3, key="x", has_fd=1), want=errno.EBADMSG,
    cmsgs=[(socket.SOL_SOCKET, socket.SCM_RIGHTS, one), (socket.SOL_SOCKET, socket.SCM_RIGHTS, one)])
assert p.closed(), "the broker kept an fd of two headers"
p = Pipe()
cred = struct.pack("=iII", os.getpid(), os.getuid(), os.getgid())
c = fresh()
c.sock.sendmsg([encode("put", 3, key="cred-and-fd", has_fd=1)],
               [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, cred),
                (socket.SOL_SOCKET, socket.SCM_RIGHTS, one)])
t, i, f, _ = c.recv()
assert t in ("ok", "error"), (t, f)
if t == "ok":
    assert c.call("release", key="cred-and-fd")[0] == "ok"
c.close()
assert p.closed(), "the broker kept the fd of a put with credentials"
hl.ok("253 fds, fds over two headers, credentials beside an fd: every fd closed")

# fds on requests that take none: without HAS_FD (EBADMSG), with it (EPROTO)
for op, fields in (("get", {"key": "k"}), ("resolve", {"key": "k"}), ("release", {"key": "k"}),
                   ("wait", {"key": "k"}), ("list", {}), ("status", {}), ("hello", {})):
    p = Pipe()
    bad("fd on %s" % op, encode(op, 3, **fields), fds=[p.r], want=errno.EBADMSG)
    bad("fd and HAS_FD on %s" % op, encode(op, 3, has_fd=1, **fields), fds=[p.r],
        want=errno.EPROTO)
    assert p.closed(), "the broker kept an fd sent with %s" % op
p = Pipe()
bad("HAS_FD=2", encode("put", 3, key="x", has_fd=2), fds=[p.r], want=errno.EBADMSG)
assert p.closed()
hl.ok("an fd with get/resolve/release/wait/list/status/hello: refused, closed")

# proofs of the wrong kind for a path key
keydir = os.path.join(T, "keys")
os.makedirs(keydir, exist_ok=True)
key = os.path.join(keydir, "victim.sock")
sp = short_path(root, key)
elsewhere = os.path.join(T, "elsewhere")
os.makedirs(elsewhere, exist_ok=True)
os.symlink(sp, os.path.join(elsewhere, "link"))
os.symlink("/etc/passwd", os.path.join(T, "to-passwd"))
os.mkfifo(os.path.join(T, "fifo"))
with open(os.path.join(T, "file"), "w") as fh:
    fh.write("x")
lsock = socket.socket(socket.AF_UNIX)
lsock.bind(os.path.join(T, "lsock"))


def proof(name, fd, needle):
    c = Client(root)
    r = c.call("bind", fds=[fd], key=key, proof=1, has_fd=1, flags=LISTEN)
    hl.expect_error(r, errno.EACCES, needle, name)
    assert c.call("status")[0] == "ok", name    # refused, connection kept
    c.close()
    os.close(fd)


proof("a regular file", os.open(os.path.join(T, "file"), os.O_RDONLY), "not a symlink")
proof("a directory", os.open(T, os.O_RDONLY | os.O_DIRECTORY), "not a symlink")
proof("a socket", os.dup(lsock.fileno()), "not a symlink")
proof("a FIFO", os.open(os.path.join(T, "fifo"), os.O_PATH), "not a symlink")
proof("an O_PATH of a file", os.open(os.path.join(T, "file"), os.O_PATH), "not a symlink")
proof("a symlink elsewhere pointing at the short path",
      os.open(os.path.join(elsewhere, "link"), os.O_PATH | os.O_NOFOLLOW), "not at that path")
proof("a symlink to /etc/passwd",
      os.open(os.path.join(T, "to-passwd"), os.O_PATH | os.O_NOFOLLOW), "does not point at")
proof("a pipe", os.pipe()[0], "not a symlink")
c = Client(root)
hl.expect_error(c.call("bind", key=key, flags=LISTEN), errno.EACCES, "needs PROOF", "no proof")
r, w = os.pipe()
hl.expect_error(c.call("bind", fds=[r], key="a-name", proof=1, has_fd=1), errno.EINVAL,
                "no proof goes with it", "a proof on a name")
os.close(r)
os.close(w)
c.close()
assert not os.path.lexists(key), "a refused proof left %s" % key
assert not any(e.get("key") == key for e in Client(root).list()), "an entry was made"
hl.ok("proofs that are files, dirs, sockets, FIFOs, pipes, symlinks elsewhere: EACCES")

# BOUND with an fd that is not the socket at the short path
c = Client(root)
assert c.call("bind", key="prep", flags=PREPARE)[0] == "ok"
psp = short_path(root, "prep")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(psp)
s.listen(1)
other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
other.bind(os.path.join(T, "other.sock"))
for name, fd in (("a socket bound elsewhere", os.dup(other.fileno())),
                 ("a regular file", os.open(os.path.join(T, "file"), os.O_RDONLY)),
                 ("an unbound socket", socket.socket(socket.AF_UNIX).detach())):
    hl.expect_error(c.call("bind", fds=[fd], key="prep", flags=BOUND, has_fd=1), errno.EINVAL,
                    "not bound at", "BOUND with " + name)
    os.close(fd)
hl.expect_error(c.call("bind", key="prep", flags=BOUND, mode=0o666), errno.EINVAL,
                "only KEY and FLAGS", "BOUND with a mode")
assert c.call("bind", fds=[s.fileno()], key="prep", flags=BOUND, has_fd=1)[0] == "ok"
assert c.call("release", key="prep")[0] == "ok"
c.close()
s.close()
other.close()
lsock.close()
hl.ok("BOUND with a socket bound elsewhere, a file, an unbound socket: EINVAL")
watch.check("fds of the wrong kind", served=served)

# --- clients that stall (--client-timeout 1) ------------------------------
silent = [fresh() for _ in range(5)]
t0 = time.monotonic()
for c in silent:
    dropped_after(c, "a silent client")
took = time.monotonic() - t0
assert 0.5 < took < 5, "silent clients dropped after %.2f s" % took
hl.ok("5 silent clients dropped after %.2f s (--client-timeout 1)" % took)

# one that fills its receive queue, then sends garbage and never reads
c = fresh()
c.sock.setblocking(False)
sent = 0
try:
    for sent in range(300):
        c.sock.send(encode("status", sent + 1))
except BlockingIOError:
    pass
hl.settle(lambda: hl.fds(pid) == watch.fds + 1, 0.5)   # (c)
try:
    c.sock.send(b"garbage after %d requests" % sent)
except OSError:
    pass    # still full (a slow broker: ASan), or dropped already: either way

assert hl.settle(lambda: hl.fds(pid) == watch.fds, 10), \
    "a client that never reads its last reply was not dropped"
c.close()
hl.ok("a client that never reads its last reply (%d requests, then garbage) dropped" % sent)

# one in the middle of a LIST that stops reading
keys = ["list-%03d-%s" % (n, "x" * 150) for n in range(300)]
good = Client(root)
for k in keys:
    assert good.call("put", fds=[0], key=k, has_fd=1)[0] == "ok"
good.close()
c = fresh()
c.send("list")
c.recv()                       # one entry, then nothing more is read
assert hl.settle(lambda: hl.fds(pid) == watch.fds + 300, 10), \
    "a client stalled in a LIST was not dropped (fds %d)" % hl.fds(pid)
c.close()
good = Client(root)
for k in keys:
    assert good.call("release", key=k)[0] == "ok"
hl.ok("a client that stops reading in the middle of a LIST of 300 dropped")
watch.check("stalled clients", served=served)
good.close()
