# SPDX-License-Identifier: ISC
"""hard-inject.py: fds whose last close lingers, sent where the broker
closes them (run as the hostile uid; "sent" on stdout (twofds: then "refused"
when the broker said why), then it keeps the
receiving ends of its TCP connections open, unread, until stdin closes).

  hard-inject.py inflight ROOT   a client that waits (WAIT: the broker does
                                 not read it) queues messages carrying such
                                 fds in its connection, then hangs up: the
                                 broker drops it and closes the connection
  hard-inject.py release ROOT    one such fd PUT, then RELEASEd: the broker
                                 closes its copy, the last
  hard-inject.py held LISTEN DGRAM
                                 one such fd in a message on a connection to
                                 the listening socket LISTEN that nobody
                                 accepts, one in a datagram to DGRAM (both
                                 root's, held by the broker): its release
                                 closes them
  hard-inject.py held-full ROOT LISTEN DGRAM
                                 the same, once this uid's closer queue is
                                 full (a lingering fd, pipes behind it until
                                 the broker refuses more): the drain of root's
                                 socket hands them to this uid all the same
  hard-inject.py twofds ROOT     one PUT carrying three such fds (two allowed),
                                 read once a short WAIT is over: the broker
                                 refuses it and closes both

Each fd is a TCP socket with SO_LINGER {1, 3600} and a full send buffer to a
peer that never reads: its last close waits an hour. The broker must close
them off its event loop and go on serving (checked by the .sh).
"""
import errno
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import Client, encode  # noqa: E402
import sbtest  # noqa: E402

keep = []


def lingering():
    return sbtest.lingering(keep)


def inflight(root):
    cl = Client(root)
    # a WAIT for a key nobody binds: the broker reads nothing more from cl
    cl.send("wait", key="inject-never", timeout_ms=600000)
    n = 0
    for i in range(8):
        c = lingering()
        try:
            socket.send_fds(cl.sock, [encode("status", mid=100 + i)], [c.fileno()],
                            socket.MSG_DONTWAIT)
            n += 1
        except BlockingIOError:
            pass
        c.close()       # the copy in flight is the last one
    assert n > 0, "no message could be queued"
    cl.close()          # the broker drops it: its close frees what is queued
    print("sent", flush=True)


def twofds(root):
    cl = Client(root)
    # the broker reads the PUT only once this WAIT is over: the copies in
    # flight are then the last ones (a close here would linger)
    cl.send("wait", key="inject-never", timeout_ms=300)
    # more than SB_FDS_MAX (2: an ADOPT of a path key)
    a, b, c = lingering(), lingering(), lingering()
    socket.send_fds(cl.sock, [encode("put", mid=7, key="inject-two", has_fd=1)],
                    [a.fileno(), b.fileno(), c.fileno()])
    a.close()
    b.close()
    c.close()
    print("sent", flush=True)
    t, i, f, rfds = cl.recv()
    assert t == "error" and f["errno"] == errno.ETIMEDOUT, (t, f)
    t, i, f, rfds = cl.recv()
    assert t == "error", (t, f)
    assert f["errno"] == errno.EBADMSG and "more than 2 fds" in f["message"], f
    print("refused", flush=True)
    cl.close()


def release(root):
    cl = Client(root)
    c = lingering()
    t = cl.call("put", fds=[c.fileno()], key="linger", has_fd=1)[0]
    assert t == "ok", "put refused: %s" % t
    c.close()           # the broker's copy is now the last one
    t = cl.call("release", key="linger")[0]
    assert t == "ok", "release refused: %s" % t
    print("sent", flush=True)


def held(listen, dgram):
    c = lingering()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(listen)
    socket.send_fds(conn, [b"x"], [c.fileno()])
    c.close()
    keep.append(conn)   # connected, never accepted
    c = lingering()
    d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    d.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", c.fileno()))],
              0, dgram)
    c.close()
    d.close()
    print("sent", flush=True)


def fill(root):
    """Fill this uid's closer queue: a lingering fd PUT and RELEASEd first
    (its close holds the uid's closer thread), then pipes the same way
    behind it until the broker refuses more fds of this uid."""
    cl = Client(root)
    keep.append(cl)
    fd = lingering()
    for i in range(200):
        t, _, f, rfds = cl.call("put", fds=[fd.fileno()], key="fill-%d" % i, has_fd=1)
        fd.close()
        if t == "error" and f.get("errno") == errno.EAGAIN:
            assert i >= 20, "refused after %d fds only" % i
            return
        assert t == "ok", (t, f)
        t = cl.call("release", key="fill-%d" % i)[0]
        assert t == "ok", t
        r, w = os.pipe()
        os.close(w)
        fd = os.fdopen(r)
    raise AssertionError("the broker never refused more fds")


def main():
    mode = sys.argv[1]
    if mode == "held":
        held(sys.argv[2], sys.argv[3])
    elif mode == "held-full":
        fill(sys.argv[2])
        held(sys.argv[3], sys.argv[4])
    else:
        {"inflight": inflight, "twofds": twofds, "release": release}[mode](sys.argv[2])
    sys.stdin.read()


main()
