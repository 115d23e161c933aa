# SPDX-License-Identifier: ISC
"""A start after a stop checks what the fd store gives back, even with a
stale SOCKBROKERD_REEXEC_FDS in its environment (one that is not the
handover of a re-exec of this process): a held socket's stored fd that is
no socket is released, never handed to a client as its socket."""
import os
import signal
import stat
import sys

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import Client, LISTEN  # noqa: E402
import fakesd  # noqa: E402

T, broker = os.environ["T"], os.environ["SOCKBROKERD"]


def kind(fd):
    m = os.fstat(fd).st_mode
    return "socket" if stat.S_ISSOCK(m) else "FIFO" if stat.S_ISFIFO(m) else oct(m)


for n, (label, env) in enumerate((
        ("no variable", {}),
        ("a stale SOCKBROKERD_REEXEC_FDS", {"SOCKBROKERD_REEXEC_FDS": "77:1"}))):
    d = os.path.join(T, "run%d" % n)
    os.mkdir(d)
    root = os.path.join(d, "root")
    sd = fakesd.ServiceManager(d, root, broker)
    pid = sd.start()
    t, _, f, fds = Client(root).call("bind", key="h1", flags=LISTEN)
    assert t == "ok", f
    os.close(fds[0])
    sd.drain()
    eid = fakesd.entry_id(root, "h1")
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    # the store's fd of h1 is now a pipe's
    r, w = os.pipe()
    with sd.lock:
        os.close(sd.store[eid])
        sd.store[eid] = r
    pid = sd.start(**env)
    t, _, f, fds = Client(root).call("bind", key="h1", flags=LISTEN)
    got = kind(fds[0]) if t == "ok" and fds else (t, f)
    for fd in fds:
        os.close(fd)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(w)
    assert got == "socket", "%s: bind h1 after the restart gave %r" % (label, got)
    print("ok - %s: a stored fd that is no socket is not taken for a held socket" % label)
