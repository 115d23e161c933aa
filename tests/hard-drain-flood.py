# SPDX-License-Identifier: ISC
"""hard-drain-flood.py ROOT: a client (run as the hostile uid) that fills its
own connection to control with fds, then hangs up (for hard-drain-flood.sh).

It sends WAIT on a key nobody binds (the broker reads nothing more of it),
then one message carrying a TCP socket whose last close lingers for an hour
(sbtest.lingering), then 12 messages (fewer if the kernel refuses), each with
252 fds (copies of 126 pipes), and closes the connection. The broker drains
it on a closer thread of this uid: the lingering close holds that thread,
and the fds behind it must not end up in the broker's fd table (they would
fill it: every user's binds and accepts then fail). Prints "sent N" (the
fds queued), then keeps the lingering socket's peer open until stdin closes.
"""
import os
import resource
import socket
import sys

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import Client, encode  # noqa: E402
import sbtest  # noqa: E402

PER_MSG = 252


def main(root):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keep = []
    cl = Client(root)
    cl.send("wait", key="flood-never", timeout_ms=600000)
    c = sbtest.lingering(keep)
    socket.send_fds(cl.sock, [encode("status", mid=2)], [c.fileno()])
    c.close()           # the copy in flight is the last one
    fds = []
    for i in range(PER_MSG // 2):
        fds.extend(os.pipe())
    n = 0
    for i in range(12):      # 3024 fds: the kernel's in-flight budget is per uid
        try:
            socket.send_fds(cl.sock, [encode("status", mid=3 + i)], fds,
                            socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            break       # the send buffer, or the kernel's in-flight limit
        n += len(fds)
    for x in fds:
        os.close(x)
    cl.close()          # the broker drops it and drains what is queued
    print("sent", n, flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1])
