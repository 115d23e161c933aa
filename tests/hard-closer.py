# SPDX-License-Identifier: ISC
"""hard-closer.py: the two clients of hard-closer.sh (PYTHONPATH=tests/).

  hard-closer.py hostile   (uid 65534) PUTs two TCP sockets whose last close
                           blocks for an hour and RELEASEs them: the broker's
                           closes of them hang; prints "stuck". After a line
                           on stdin, PUTs more fds until one is refused and
                           prints "refused N" (it must be EAGAIN, "could not
                           close yet"); keeps its sockets until stdin closes.
  hard-closer.py root      (root) 300 PUTs and RELEASEs of a pipe's end,
                           which the broker must close all the same.
"""
import errno
import os
import sys

from sbproto import Client
import sbtest


def hostile():
    keep = []
    c = Client()
    for i in range(2):
        s = sbtest.lingering(keep)
        assert c.call("put", fds=[s.fileno()], key="linger%d" % i, has_fd=1)[0] == "ok"
        s.close()                       # the broker's copy is the last one
        assert c.call("release", key="linger%d" % i)[0] == "ok"
    print("stuck", flush=True)
    sys.stdin.readline()
    # more fds while its closes hang: refused once the bound is reached
    r, w = os.pipe()
    refused = None
    for i in range(200):
        c = Client()
        try:
            c.send("put", fds=[r], key="more%d" % i, has_fd=1)
        except (ConnectionResetError, BrokenPipeError):
            pass                        # refused at connect and closed: its ERROR waits
        try:
            t, _, f, _ = c.recv()       # a refused connection's ERROR has id 0
            if t == "ok":
                c.send("release", key="more%d" % i)
                t, _, f, _ = c.recv()
        except (ConnectionResetError, BrokenPipeError):
            c.close()
            continue
        c.close()
        if t is None:                   # closed with no reply
            continue
        if t != "ok":
            refused = f
            break
    assert refused is not None, "200 fds queued behind a hung close, none refused"
    assert refused["errno"] == errno.EAGAIN and "could not close yet" in refused["message"], \
        refused
    print("refused", i, flush=True)
    sys.stdin.read()


def root():
    c = Client()
    r, w = os.pipe()
    for i in range(300):
        assert c.call("put", fds=[w], key="root%d" % i, has_fd=1)[0] == "ok"
        assert c.call("release", key="root%d" % i)[0] == "ok"


{"hostile": hostile, "root": root}[sys.argv[1]]()
