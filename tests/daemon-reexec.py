#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""daemon-reexec.py PID SOCKBROKER: re-exec under load (run by
daemon-reexec.sh): while clients hammer the broker PID (persistent
connections, new connections, pending waits), `sockbroker reexec` and
SIGHUP re-execute it; no request fails, held sockets and connections
queued on them survive, the pid stays the same.
"""
import os, signal, socket, subprocess, sys, threading, time
from sbproto import *
pid, cli = int(sys.argv[1]), sys.argv[2]
root = os.environ["SOCKBROKER_ROOT"]

c = Client(root)
t, i, f, fds = c.call("bind", key="held", flags=LISTEN)
assert t == "ok", f
ino = os.fstat(fds[0]).st_ino
os.close(fds[0])
early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
early.connect(f["short_path"])
early.sendall(b"hi")
waiter = Client(root, timeout=60)
wid = waiter.send("wait", key="late", timeout_ms=30000)

stop = threading.Event()
errors, counts = [], [0, 0]
def persistent(n):
    cl = Client(root, timeout=30)
    k = 0
    while not stop.is_set():
        t, i, f, fds = cl.call("bind", key="p%d-%d" % (n, k))
        if t != "ok":
            errors.append((t, f))
            return
        os.close(fds[0])
        assert cl.call("resolve", key="p%d-%d" % (n, k))[0] == "ok"
        counts[0] += 1
        k += 1
def fresh():
    while not stop.is_set():
        try:
            cl = Client(root, timeout=30)
            t, i, f, _ = cl.call("status")
            cl.close()
        except OSError as e:
            errors.append(("fresh", repr(e)))
            return
        if t != "ok":
            errors.append((t, f))
            return
        counts[1] += 1
ths = [threading.Thread(target=persistent, args=(n,)) for n in range(4)]
ths += [threading.Thread(target=fresh) for _ in range(2)]
for th in ths:
    th.start()

def reexec_cli():
    r = subprocess.run([cli, "reexec"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
for n in range(6):
    before = sum(counts)
    while sum(counts) < before + 50 and not errors:
        time.sleep(0.005)
    if n % 2:
        os.kill(pid, signal.SIGHUP)
    else:
        reexec_cli()
stop.set()
for th in ths:
    th.join()
assert not errors, errors[:3]
print("ok - %d persistent and %d fresh requests across 6 re-execs, none failed" % tuple(counts))

t, i, f, _ = c.call("status")
assert t == "ok" and f["pid"] == pid, f
t, i, f, fds = c.call("get", key="held")
assert os.fstat(fds[0]).st_ino == ino
ls = socket.socket(fileno=fds[0])
ls.settimeout(10)
conn, _ = ls.accept()
assert conn.recv(2) == b"hi"
print("ok - the held socket and its queued connection survived")
t, i, f, fds = c.call("bind", key="late")
os.close(fds[0])
t, i, f, _ = waiter.recv()
assert t == "ok" and i == wid, (t, f)
print("ok - a wait pending across the re-execs was answered")
