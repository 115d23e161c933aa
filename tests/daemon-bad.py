#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""daemon-bad.py PID: malformed, truncated, oversized, wrong-version and
reply-type messages, stray and extra fds against the broker PID at
$SOCKBROKER_ROOT (run by daemon-bad.sh): each gets an error (where one can
be sent) and the connection is dropped; another client keeps being
served; no fd leaks.
"""
import errno, os, socket, struct, sys, time
from sbproto import *
import sbtest

pid = int(sys.argv[1])
root = os.environ["SOCKBROKER_ROOT"]
good = Client(root)

def nfds():
    return sbtest.fds(pid)

def served():
    sbtest.served(root, pid, good)

def bad(name, data, fds=(), want=None):
    f = sbtest.bad(root, pid, name, data, fds, want, client=good)
    print("ok - %s: %s" % (name, f.get("message", "dropped")))

served()
before = nfds()
r, w = os.pipe()

bad("garbage", b"this is not a sockbroker message at all", want=errno.EBADMSG)
bad("short header", b"SBRK\1\0", want=errno.EBADMSG)
m = encode("get", 5, key="x")
bad("truncated", m[:-3] + b"", want=errno.EBADMSG)
bad("length lies", encode("get", 5, key="x", length=200), want=errno.EBADMSG)
bad("field runs past the end", encode("get", 5, raw=struct.pack("=HH", 1, 50) + b"x\0"),
    want=errno.EBADMSG)
bad("oversized", encode("get", 5, raw=b"\0" * 10000), want=errno.EMSGSIZE)
bad("wrong version", encode("status", 9, version=7), want=errno.EPROTONOSUPPORT)
bad("reply type ok", encode("ok", 3), want=errno.EPROTO)
bad("reply type error", encode("error", 3, errno=1), want=errno.EPROTO)
bad("unknown type", encode(0x0777, 3), want=errno.EPROTO)
bad("unknown field", encode("status", 3, raw=struct.pack("=HHI", 99, 4, 0)), want=errno.EPROTO)
bad("missing key", encode("get", 3), want=errno.EPROTO)
bad("field twice", encode("get", 3, key="a", raw=encode_field("key", "b")), want=errno.EPROTO)
bad("string without NUL", encode("get", 3, raw=struct.pack("=HH", 1, 1) + b"x"),
    want=errno.EPROTO)
bad("fd without HAS_FD", encode("status", 3), fds=[r], want=errno.EBADMSG)
bad("HAS_FD without fd", encode("put", 3, key="x", has_fd=1), want=errno.EBADMSG)
bad("two fds", encode("put", 3, key="x", has_fd=1), fds=[r, w], want=errno.EBADMSG)
bad("eight fds", encode("put", 3, key="x", has_fd=1), fds=[r, w] * 4, want=errno.EBADMSG)
bad("HAS_FD on get", encode("get", 3, key="x", has_fd=1), fds=[r], want=errno.EPROTO)
bad("empty datagram", b"")

# the version message names both versions
c = Client(root)
c.send_raw(encode("status", 1, version=2))
t, i, f, _ = c.recv()
assert "2" in f["message"] and "1" in f["message"], f
c.close()

# a bad key is refused but the connection stays
c = Client(root)
for key in ("../etc", "a/b", "/tmp/../x", "x" * 201, "/"):
    t, i, f, _ = c.call("get", key=key)
    assert t == "error" and f["errno"] in (errno.EINVAL, errno.ENAMETOOLONG), (key, t, f)
t, i, f, _ = c.call("status")
assert t == "ok"
c.close()

# a client that never reads its replies is dropped, the broker lives on
c = Client(root, timeout=5)
dropped = False
try:
    for n in range(20000):
        c.send_raw(encode("status", n))
except (BrokenPipeError, ConnectionResetError, socket.timeout):
    dropped = True
assert dropped or c.is_closed(), "a client that reads nothing was not dropped"
c.close()
served()

os.close(r)
os.close(w)
# every fd that came with a refused message was closed: the broker
# closes them on its closer thread and sees the dropped clients go when
# it reads their hang-ups, so poll (10 ms) for up to 10 s, as sb_wait_for
# does; 100 sched_yield()s were over before a loaded machine got there.
deadline = time.monotonic() + 10
while nfds() != before and time.monotonic() < deadline:
    time.sleep(0.01)
assert nfds() == before, "broker fds: %d before, %d after" % (before, nfds())
print("ok - broker fd count unchanged: %d" % before)
