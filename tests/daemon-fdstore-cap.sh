#!/bin/bash
# The fd store is capped: systemd gives stored fds back with their names in
# one variable, LISTEN_FDNAMES, which execve() refuses over 128 KiB, so the
# broker stores at most FDSTORE_MAX fds (fewer if $FDSTORE says so, as
# systemd >= 254 sets it from FileDescriptorStoreMax=). Here FDSTORE=3: the
# fourth held entry gets one warning and is held but not stored; a release
# makes room again; a re-exec keeps every held entry and knows which are
# stored; a restart of the service brings the stored ones back and reports
# and cleans the others.
. "$top_srcdir/tests/lib.sh"
need python3
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD

python3 - <<'PYEOF' || fail "fd store cap"
import fcntl, os, signal, socket, threading, time
from sbproto import *

T, root, broker = os.environ["T"], os.environ["SOCKBROKER_ROOT"], os.environ["SOCKBROKERD"]
os.mkdir(root, 0o755)
ns_path = T + "/notify"
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(ns_path)
control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
control.bind(root + "/control")
control.listen(128)
store, seen, lock = {}, [], threading.Lock()

def reader():
    """The service manager's side of NOTIFY_SOCKET."""
    while True:
        data, fds, _, _ = socket.recv_fds(ns, 65536, 64)
        kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        with lock:
            if kv.get("FDSTORE") == "1":
                assert len(fds) == 1 and kv["FDNAME"] not in store, kv
                store[kv["FDNAME"]] = fds[0]
            else:
                for fd in fds:
                    os.close(fd)
            if kv.get("FDSTOREREMOVE") == "1":
                os.close(store.pop(kv["FDNAME"]))
            seen.append(kv)
threading.Thread(target=reader, daemon=True).start()

def wait_notify(key, since):
    end = time.time() + 10
    while time.time() < end:
        with lock:
            if any(key in kv for kv in seen[since:]):
                return
        time.sleep(0.01)
    raise AssertionError("no %s from the broker" % key)

def settle():
    """Wait until nothing new came for 200 ms."""
    n = -1
    while True:
        with lock:
            m = len(seen)
        if m == n:
            return
        n = m
        time.sleep(0.2)

def start():
    with lock:
        mark = len(seen)
        names = ["control"] + list(store)
        fds = [control.fileno()] + [store[n] for n in names[1:]]
    env = dict(os.environ, NOTIFY_SOCKET=ns_path, FDSTORE="3",
               LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
    log = os.open(T + "/broker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(log, 2)         # before 3.. are overwritten (log may be one)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            os.execve("/bin/sh", ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', broker,
                                  "--root", root], env)
        finally:
            os._exit(127)
    os.close(log)
    wait_notify("READY", mark)
    return pid

def eid(key):
    parts = short_path(root, key).split("/")
    return parts[-3] + parts[-2]

def stored():
    settle()
    with lock:
        return set(store)

def warnings():
    return open(T + "/broker.log").read().count("fd store is full")

def bind(c, k):
    t, i, f, fds = c.call("bind", key=k, flags=LISTEN)
    assert t == "ok", f
    for fd in fds:
        os.close(fd)

# 1. three held entries are stored, the fourth and fifth are not: one warning
pid = start()
c = Client(root)
for k in ("h1", "h2", "h3", "h4", "h5"):
    bind(c, k)
assert stored() == {eid(k) for k in ("h1", "h2", "h3")}, stored()
assert warnings() == 1, open(T + "/broker.log").read()
assert "the socket of h4 and of the next held entries is not stored" in open(T + "/broker.log").read()
print("ok - FDSTORE=3: three fds stored, one warning")

# 2. a release makes room for the next one
assert c.call("release", key="h1")[0] == "ok"
bind(c, "h6")
assert stored() == {eid(k) for k in ("h2", "h3", "h6")}, stored()
print("ok - a release makes room")

# 3. a re-exec keeps all held entries, and knows which are stored
t, i, f, _ = c.call("reexec")
assert t == "ok", f
c.close()
end = time.time() + 10
while "re-executed" not in open(T + "/broker.log").read():
    assert time.time() < end, "no re-exec"
    time.sleep(0.05)
c = Client(root)
ents = {e["key"]: e for e in c.list()}
assert sorted(ents) == ["h2", "h3", "h4", "h5", "h6"], sorted(ents)
assert all(e["holders"] == 1 for e in ents.values()), ents
bind(c, "h7")               # the store is still full: not stored
assert stored() == {eid(k) for k in ("h2", "h3", "h6")}, stored()
assert c.call("release", key="h2")[0] == "ok"
assert c.call("release", key="h4")[0] == "ok"   # not stored: no FDSTOREREMOVE
bind(c, "h8")
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
print("ok - every held entry survives a re-exec, the count of stored fds too")

# 4. a restart of the service: the stored ones come back, the others are
#    reported and cleaned
c.close()
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
open(T + "/broker.log", "w").close()
pid = start()
c = Client(root)
ents = {e["key"]: e for e in c.list()}
assert sorted(ents) == ["h3", "h6", "h8"], sorted(ents)
log = open(T + "/broker.log").read()
for k in ("h5", "h7"):
    assert "entry %s: the previous broker held its socket and it did not come back: released" % k in log, log
    assert not os.path.exists(os.path.dirname(short_path(root, k))), k
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
bind(c, "h9")               # 3 of 3 again
assert stored() == {eid(k) for k in ("h3", "h6", "h8")}, stored()
assert warnings() == 1, log
print("ok - a restart keeps the stored entries and releases the others")
c.close()
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
PYEOF
exit 0
