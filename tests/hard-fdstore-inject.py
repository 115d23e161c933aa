# SPDX-License-Identifier: ISC
"""hard-fdstore-inject.py: root's held sockets are in the service manager's
fd store (fakesd.py plays it, closing a removed fd itself, 0.3 s late, as
systemd before v254 does in PID 1); uid 65534 sends fds whose last close lingers
for an hour into them (hard-inject.py held). Root releases them: the
broker sends FDSTOREREMOVE and closes its own copy. The manager's close
must never be the last one (it would wait that hour and hear nothing
more): the manager still stores the fd of root's next bind.
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import Client  # noqa: E402

import fakesd  # noqa: E402

T, root, broker = os.environ["T"], os.environ["SOCKBROKER_ROOT"], os.environ["SOCKBROKERD"]
os.chmod(T, 0o755)
# a manager that drops a removed fd 0.3 s late: the broker's copy is closed first
sd = fakesd.ServiceManager(T, root, broker, remove_delay=0.3)
pid = sd.start()


def bind(key, **fields):
    mark = sd.mark()
    c = Client(root)
    t, i, f, fds = c.call("bind", key=key, mode=0o666, **fields)
    assert t == "ok", (key, f)
    for fd in fds:
        os.close(fd)        # the broker's copy and the manager's are left
    c.close()
    sd.wait_notify("FDSTORE", mark)
    return f["short_path"]


def release(key):
    mark = sd.mark()
    c = Client(root)
    t, i, f, _ = c.call("release", key=key)
    assert t == "ok", (key, f)
    c.close()
    sd.wait_notify("FDSTOREREMOVE", mark)


listen = bind("inj-listen", flags=1)
dgram = bind("inj-dgram", socktype=socket.SOCK_DGRAM)
inj = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/usr/bin/python3", os.path.join(os.environ["top_srcdir"],
                                                         "tests/hard-inject.py"),
                        "held", listen, dgram],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    line = inj.stdout.readline().strip()
    assert line == "sent", "the hostile client said %r" % line
    release("inj-listen")
    release("inj-dgram")
    # the manager still hears the broker: the fd of a new bind is stored
    bind("after-inject", flags=1)
    release("after-inject")
    print("ok - the service manager's copies of root's held sockets were not the last: "
          "what uid 65534 queued in them did not stall it")
finally:
    inj.stdin.close()
    inj.wait()
    os.kill(pid, 15)
    os.waitpid(pid, 0)
