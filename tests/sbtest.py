# SPDX-License-Identifier: ISC
"""sbtest.py: what the Python tests share (python3, with sbproto.py).

Import it with tests/ on sys.path (PYTHONPATH="$top_srcdir/tests"):
    import sbtest as hl

served() and bad() are the checks of the tests that send bad messages:
a bad message gets its error (or the connection is dropped), and the
broker goes on serving. Both send on a new connection through exchange(),
which waits out the broker's refusal of a uid other than root whose
dropped connections it has not closed yet (a burst of them, as these
tests make, can outrun the uid's closer thread on a loaded machine).

lingering() makes a TCP socket whose last close blocks for an hour, what
the tests of the broker's closer threads hand it.

The broker's resources are read from /proc/PID: its fd count and VmRSS.
A scenario is judged by Watch: the fds must come back to exactly their
baseline, VmRSS to within RSS_SLACK_KB of it (glibc keeps some freed heap,
libevent keeps the arrays it grew for the highest fd it saw); the figures
are printed as TAP comments.
"""
import errno
import os
import socket
import struct
import sys
import time

from sbproto import Client, encode

# VmRSS may stay this much above its baseline after a scenario (KiB).
RSS_SLACK_KB = int(os.environ.get("SB_RSS_SLACK_KB", "1024"))


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_list(pid):
    out = []
    for n in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s->%s" % (n, os.readlink("/proc/%d/fd/%s" % (pid, n))))
        except OSError:
            pass
    return " ".join(out)


def sanitized(pid):
    """Is the broker built with ASan? Its quarantine keeps freed memory."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError("no VmRSS for %d" % pid)


def settle(cond, timeout=10.0):
    """Poll cond() (every 5 ms) until it is true or timeout seconds pass."""
    end = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.005)


def log(msg):
    print("# " + msg, flush=True)


def ok(msg):
    print("ok - " + msg, flush=True)


class Watch:
    """Baseline of a broker's fds and RSS; check() after a scenario."""

    def __init__(self, pid, client_factory=None):
        self.pid = pid
        self.client_factory = client_factory
        self.fds = fds(pid)
        self.rss = rss_kb(pid)
        log("baseline: %d fds, VmRSS %d kB" % (self.fds, self.rss))

    def check(self, what, slack_kb=None, served=None):
        slack = RSS_SLACK_KB if slack_kb is None else slack_kb
        if not settle(lambda: fds(self.pid) == self.fds):
            raise AssertionError("%s: broker fds %d, baseline %d: %s" % (
                what, fds(self.pid), self.fds, fd_list(self.pid)))
        nfds, rss = fds(self.pid), rss_kb(self.pid)
        log("%s: fds %d (baseline %d), VmRSS %d kB (baseline %d, %+d kB, slack %d)" % (
            what, nfds, self.fds, rss, self.rss, rss - self.rss, slack))
        if served is not None:
            served()
        if sanitized(self.pid):
            log("%s: ASan build: VmRSS not judged (freed memory stays in its quarantine)" % what)
        elif rss > self.rss + slack:
            raise AssertionError("%s: VmRSS %d kB, baseline %d kB + slack %d kB" % (
                what, rss, self.rss, slack))
        ok("%s: fds and VmRSS back to baseline" % what)


def lingering(keep):
    """A TCP socket whose last close blocks: a full send buffer to a peer
    that never reads, SO_LINGER {1, 3600}. Its peer and listener go on keep
    (they must stay open, unread, for the close to hang)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    c = socket.create_connection(lst.getsockname())
    a, _ = lst.accept()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.setblocking(False)
    try:
        while True:
            c.send(b"x" * 65536)
    except BlockingIOError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 3600))
    keep.extend([lst, a])
    return c


def expect_error(reply, want, needle=None, what=""):
    """reply is (type, id, fields, fds) of sbproto; check an ERROR with errno want."""
    t, i, f, rfds = reply
    for x in rfds:
        os.close(x)
    assert t == "error", "%s: got %s %r" % (what, t, f)
    assert f["errno"] == want, "%s: errno %s, want %s (%s)" % (
        what, errno.errorcode.get(f["errno"], f["errno"]), errno.errorcode[want], f.get("message"))
    assert f.get("message"), "%s: no message" % what
    if needle is not None:
        assert needle in f["message"], "%s: message %r lacks %r" % (what, f["message"], needle)
    return f


def send_cmsgs(sock, data, cmsgs):
    """sendmsg with arbitrary ancillary data [(level, type, bytes)]."""
    return sock.sendmsg([data], cmsgs)


def served(root, pid, client=None):
    """The broker (pid) answers STATUS: on client, a connection that stays
    open across bad ones, or else on a new connection, and then its fd count
    comes back to what it was (the broker saw the close)."""
    if client is not None:
        t, i, f, _ = client.call("status")
        assert t == "ok" and f["pid"] == pid, (t, f)
        return
    n = fds(pid)
    c, (t, i, f, _) = exchange(root, encode("status", 7), timeout=20)
    c.close()
    assert t == "ok" and i == 7 and f["pid"] == pid, (t, i, f)
    settle(lambda: fds(pid) <= n)


# A uid other than root with this many fds the broker's closer threads
# have not closed yet is refused at connect, and so is a message of it
# carrying fds (closer.h): EAGAIN, "... could not close yet (the limit is
# 64): try again later".
CLOSER_PENDING_MAX = 64


def lagging(t, f):
    """Is (t, f) the broker's refusal of a uid whose closes lag: at
    connect (id 0, before it read anything), or of a message carrying
    fds (its id: the broker takes no more fds of that uid for now)? Both
    say "try again later" and name the limit."""
    if t != "error" or f.get("errno") != errno.EAGAIN or \
            "could not close yet" not in f.get("message", ""):
        return False
    assert "(the limit is %d)" % CLOSER_PENDING_MAX in f["message"], f
    return True


def exchange(root, data, fds=(), cmsgs=None, timeout=5):
    """Send data on a new connection and read the reply: (client, (type,
    id, fields, fds)). A refusal because this uid's closes lag (lagging())
    is the broker's throttle working, not its answer to what data asks:
    it is waited out (backing off to 0.2 s) and data sent again on a new
    connection, for at most 30 s; then that refusal is returned, and the
    caller's check of the errno fails."""
    end = time.monotonic() + 30
    pause = 0.005
    while True:
        c = Client(root, timeout=timeout)
        if cmsgs is not None:
            c.sock.sendmsg([data], cmsgs)
        else:
            c.send_raw(data, fds)
        r = c.recv()
        if not lagging(r[0], r[2]) or time.monotonic() > end:
            return c, r
        c.close()
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def bad(root, pid, name, data, fds=(), want=None, keep=False, cmsgs=None, client=None):
    """Send data on a new connection; want an ERROR of errno want, with a
    message (None: dropped without a reply). keep: the connection must stay
    open. Then the broker must still serve (served(), on client if given).
    Returns the reply's fields."""
    c, (t, i, f, rfds) = exchange(root, data, fds, cmsgs)
    for x in rfds:
        os.close(x)
    if want is None:
        assert t is None, "%s: got %s %r" % (name, t, f)
    else:
        assert t == "error", "%s: got %s %r" % (name, t, f)
        assert f["errno"] == want, "%s: errno %s, want %s (%s)" % (
            name, errno.errorcode.get(f["errno"]), errno.errorcode[want], f.get("message"))
        assert f.get("message"), name
    if keep:
        assert c.call("status")[0] == "ok", "%s: the connection did not stay" % name
        c.close()
    else:
        assert c.is_closed(), "%s: the connection was not closed" % name
        c.close()
    served(root, pid, client)
    return f
