#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""daemon-fdstore-kinds.py: which put fds go to the service manager's fd
store (run by daemon-fdstore-kinds.sh, as root): uid 65534 puts a TCP
socket, a regular file, a pipe and an AF_UNIX socket; only the pipe and the
AF_UNIX socket are stored (with root's file), and all four can still be got
from the broker.
"""
import os, socket, subprocess, time
from sbproto import *
T, root, broker = os.environ["T"], os.environ["SOCKBROKER_ROOT"], os.environ["SOCKBROKERD"]
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(T + "/notify")
ns.settimeout(20)
env = dict(os.environ, NOTIFY_SOCKET=T + "/notify")
p = subprocess.Popen([broker, "--root", root], env=env, stderr=open(T + "/broker.log", "ab"))
stored = {}
def read_notify(until):
    while True:
        data, fds, _, _ = socket.recv_fds(ns, 65536, 8)
        kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        for fd in fds:
            os.close(fd)
        if kv.get("FDSTORE") == "1":
            stored[kv["FDNAME"]] = True
        if until(kv):
            return
read_notify(lambda kv: kv.get("READY") == "1")
os.chmod(T, 0o755)
user = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "/usr/bin/python3", "-c", """
import os, socket, sys
sys.path.insert(0, sys.argv[1])
from sbproto import *
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(1)
f = open("/dev/null", "w")
r, w = os.pipe()
ux = socket.socket(socket.AF_UNIX)
c = Client(sys.argv[2])
for key, fd in (("tcp", tcp.fileno()), ("file", f.fileno()), ("pipe", r), ("unix", ux.fileno())):
    t, i, fl, _ = c.call("put", fds=[fd], key=key, has_fd=1, mode=0o607)
    assert t == "ok", (key, fl)
""", os.environ["PYTHONPATH"], root])
assert user.returncode == 0, "uid 65534's puts"
# root's file, then a marker after them all
c = Client()
t, i, fl, _ = c.call("put", fds=[os.open(T + "/file", os.O_CREAT | os.O_WRONLY)], key="rootfile", has_fd=1)
assert t == "ok", fl
r, w = os.pipe()
t, i, fl, _ = c.call("put", fds=[w], key="marker", has_fd=1)
assert t == "ok", fl
def ident(key):
    return short_path(root, key).split("/")[-3] + short_path(root, key).split("/")[-2]
read_notify(lambda kv: kv.get("FDNAME") == ident("marker"))
got = sorted(k for k in ("tcp", "file", "pipe", "unix", "rootfile") if ident(k) in stored)
assert got == ["pipe", "rootfile", "unix"], got
print("ok - stored: %s; uid 65534's file and TCP socket kept by the broker alone" % ", ".join(got))
for key in ("tcp", "file", "pipe", "unix"):
    t, i, fl, fds = c.call("get", key=key)
    assert t == "ok" and len(fds) == 1, (key, t, fl)
    os.close(fds[0])
p.terminate(); p.wait()
