# SPDX-License-Identifier: ISC
"""daemon-reset.py: what a client sent before it went is still done.

The shim's unlink sends RELEASE without waiting for the answer, and a
server exits right after: the broker must handle every request that was
queued when the client went, however it learns that the client went.

- reset: the client closed with a reply unread, so the kernel reports
  ECONNRESET to the broker before the requests still queued;
- hung up: the client closed with nothing unread, and the broker's reply
  to its first queued request fails (EPIPE) before it reads the next;
- exited: the process of an owner entry exited with requests queued:
  they are handled before its exit is (the broker says "released", not
  "its process exited", in its -v log).

The broker (SB_PID) is stopped while each client sends and goes, so that
all of it is queued when the broker looks. Exit 1 on the first failure.
"""
import os
import select
import signal
import sys

from sbproto import Client, OWNER
from sbtest import settle, ok

root = os.environ["SOCKBROKER_ROOT"]
broker = int(os.environ["SB_PID"])
blog = os.environ["SB_LOG"]


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def keys():
    c = Client(root)
    try:
        return {e["key"] for e in c.list()}
    finally:
        c.close()


def stopped(fn):
    os.kill(broker, signal.SIGSTOP)
    try:
        fn()
    finally:
        os.kill(broker, signal.SIGCONT)



def gone(key, what):
    if not settle(lambda: key not in keys()):
        fail("%s: the RELEASE its client sent before it went was lost: %s is there" %
             (what, key))
    ok(what)


# reset: a reply left unread, then RELEASE, then close
c = Client(root)
c.send("bind", key="reset-1")
if not select.select([c.sock], [], [], 20)[0]:
    fail("reset: no reply to the bind")
assert "reset-1" in keys()


def reset_go():
    c.send("release", key="reset-1")
    c.close()


stopped(reset_go)
gone("reset-1", "a connection reset with a RELEASE queued behind it")

# hung up: bind and release queued, nothing unread, then close
c = Client(root)


def hungup_go():
    c.send("bind", key="reset-2")
    c.send("release", key="reset-2")
    c.close()


stopped(hungup_go)
gone("reset-2", "a RELEASE queued behind a request whose reply could not be sent")

# exited: the owner process of reset-3 exits with requests queued
r, w = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.close(w2)
    c = Client(root)
    t, _, f, _ = c.call("bind", key="reset-3", lifetime=OWNER)
    os.write(w, b"1" if t == "ok" else b"0")
    os.read(r2, 1)
    for _ in range(3):
        c.send("status")
    c.send("release", key="reset-3")
    os._exit(0)
os.close(w)
os.close(r2)
if os.read(r, 1) != b"1":
    fail("exited: the child could not bind reset-3")
os.kill(broker, signal.SIGSTOP)
try:
    # the child's requests go into the stopped broker's queue, then it exits
    os.write(w2, b"g")
    os.waitpid(pid, 0)
finally:
    os.kill(broker, signal.SIGCONT)
gone("reset-3", "an owner entry released by its process just before it exited")
with open(blog, errors="replace") as f:
    text = f.read()
if "release reset-3 (released)" not in text:
    fail("exited: the broker handled the exit before the RELEASE queued before it: " +
         [l for l in text.splitlines() if "reset-3" in l].__repr__())
ok("a process's queued RELEASE comes before its exit")

# during a proof: a path key's ADOPT waits for its proof check (a thread),
# and what the client sends meanwhile waits unread until it is answered;
# a client that goes while its proof runs costs nobody else anything
from sbproto import ADOPT, short_path
import socket
import tempfile

where = tempfile.mkdtemp(prefix="reset-proof.")


def proof_bind(c, name, extra=()):
    key = os.path.join(where, name + "-" + "p" * 140 + ".sock")
    os.symlink(short_path(root, key), key)
    proof = os.open(key, os.O_PATH | os.O_NOFOLLOW)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ids = [c.send("bind", fds=[proof, s.fileno()], key=key, flags=ADOPT, has_fd=2, proof=1)]
    for mtype in extra:
        ids.append(c.send(mtype))
    os.close(proof)
    return key, s, ids


c = Client(root)
box = {}


def pipelined_go():
    box["key"], box["sock"], box["ids"] = proof_bind(c, "piped", ("status", "status"))


stopped(pipelined_go)
got = []
for _ in box["ids"]:
    t, i, f, fds = c.recv()
    for fd in fds:
        os.close(fd)
    got.append((t, i))
if got != [("ok", i) for i in box["ids"]]:
    fail("requests sent behind a proof: replies %r, want ok to %r in order" %
         (got, box["ids"]))
if box["key"] not in keys():
    fail("the ADOPT with requests behind its proof made no entry")
c.close()
ok("requests sent while a proof runs are answered after it, in order")

c = Client(root)


def gone_go():
    box["key"], box["sock"], _ = proof_bind(c, "gone", ("status",))
    c.close()


stopped(gone_go)
other = Client(root)
t, _, f, _ = other.call("status")
if t != "ok":
    fail("a client that went while its proof ran: STATUS of another got %r" % (t,))
other.close()
ok("a client that goes while its proof runs holds up nobody")
