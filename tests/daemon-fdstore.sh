#!/bin/bash
# Restart with nothing lost, systemd style. A python harness plays systemd:
# it owns the control socket, hands it to the broker as LISTEN_FDS, and
# listens on NOTIFY_SOCKET for READY=1, STATUS=, WATCHDOG=1, FDSTORE=1 (with
# the fds) and FDSTOREREMOVE=1. It kills the broker with SIGKILL in the
# middle of a stream of requests and starts it again with the stored fds:
# every acknowledged entry is back with the same short path, a client that
# connected to a held socket before the kill is served after it.
. "$top_srcdir/tests/lib.sh"
need python3
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD

python3 - <<'PYEOF' || fail "fd store round trip"
import fcntl, os, signal, socket, sys, threading, time
from sbproto import *

T, root, broker = os.environ["T"], os.environ["SOCKBROKER_ROOT"], os.environ["SOCKBROKERD"]
os.mkdir(root, 0o755)
ns_path = T + "/notify"
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(ns_path)
control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
control.bind(root + "/control")
os.chmod(root + "/control", 0o666)
control.listen(128)
store = {}          # FDNAME -> fd, as systemd keeps them
seen = []

lock = threading.Lock()
reader_stop = threading.Event()

def reader():
    """Read the notify socket all the time, as systemd does."""
    ns.settimeout(0.05)
    while not reader_stop.is_set():
        try:
            data, fds, _, _ = socket.recv_fds(ns, 65536, 64)
        except (socket.timeout, BlockingIOError):
            continue
        kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        with lock:
            if kv.get("FDSTORE") == "1":
                assert len(fds) == 1, kv
                old = store.pop(kv["FDNAME"], None)
                if old is not None:
                    os.close(old)
                store[kv["FDNAME"]] = fds[0]
            else:
                for fd in fds:
                    os.close(fd)
            if kv.get("FDSTOREREMOVE") == "1":
                fd = store.pop(kv["FDNAME"], None)
                if fd is not None:
                    os.close(fd)
            seen.append(kv)

def wait_notify(key, since=0, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        with lock:
            for kv in seen[since:]:
                if key in kv:
                    return kv
        time.sleep(0.01)
    raise AssertionError("no %s from the broker; got %r" % (key, seen[-5:]))

def drain_notify():
    """Wait until the broker has sent nothing but pings for 200 ms."""
    n = -1
    while True:
        with lock:
            m = len([kv for kv in seen if "WATCHDOG" not in kv])
        if m == n:
            return
        n = m
        time.sleep(0.2)

threading.Thread(target=reader, daemon=True).start()

def start():
    with lock:
        mark = len(seen)
        names = ["control"] + list(store)
        fds = [control.fileno()] + [store[n] for n in names[1:]]
    env = dict(os.environ, NOTIFY_SOCKET=ns_path, WATCHDOG_USEC="200000",
               LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
    log = os.open(T + "/broker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.fork()
    if pid == 0:
        try:
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            os.dup2(log, 2)
            os.execve("/bin/sh", ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', broker,
                                  "-v", "--root", root], env)
        finally:
            os._exit(127)
    os.close(log)
    wait_notify("READY", mark)
    return pid

def entry_id(key):
    parts = short_path(root, key).split("/")
    return parts[-3] + parts[-2]

# 1. first broker: READY, STATUS, watchdog pings
pid = start()
wait_notify("STATUS")
wait_notify("WATCHDOG")
mark = len(seen)
wait_notify("WATCHDOG", mark)
print("ok - READY=1, STATUS=, WATCHDOG=1")

# 2. held entries go to the fd store, released ones leave it
c = Client(root)
for k in ("h1", "h2", "h3", "h4", "h5"):
    t, i, f, fds = c.call("bind", key=k, flags=LISTEN)
    assert t == "ok", f
    os.close(fds[0])
r, w = os.pipe()
assert c.call("put", fds=[w], key="p1", has_fd=1)[0] == "ok"
os.close(w)
assert c.call("release", key="h5")[0] == "ok"
t, i, f, _ = c.call("bind", key="o1", lifetime=OWNER, flags=LISTEN)   # not held: not stored
drain_notify()
want = {entry_id(k) for k in ("h1", "h2", "h3", "h4", "p1")}
assert set(store) == want, (sorted(store), sorted(want))
print("ok - FDSTORE=1 for every held fd, FDSTOREREMOVE=1 on release")
st = [kv["STATUS"] for kv in seen if "STATUS" in kv]
assert any("entries" in s and "clients" in s for s in st), st

# 3. a client connects to h1 before the kill and sends something
early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
early.connect(short_path(root, "h1"))
early.sendall(b"hello")

# 4. a stream of binds; SIGKILL in the middle of it
acked, stop = [], threading.Event()
def stream():
    s = Client(root)
    n = 0
    try:
        while not stop.is_set():
            t, i, f, fds = s.call("bind", key="s%d" % n, flags=LISTEN)
            if t != "ok":
                break
            for fd in fds:
                os.close(fd)
            acked.append("s%d" % n)
            n += 1
    except (OSError, ValueError) as e:
        if not stop.is_set():
            print("# stream ended: %r" % e)
th = threading.Thread(target=stream)
th.start()
while len(acked) < 40 and th.is_alive():
    time.sleep(0.001)
assert len(acked) >= 40, "the stream stopped early"
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
stop.set()
th.join()
c.close()
drain_notify()
print("ok - SIGKILL after %d acknowledged binds" % len(acked))
missing = [k for k in acked if entry_id(k) not in store]
assert not missing, "acknowledged but not in the fd store: %r" % missing

# 5. restart with the stored fds
pid = start()
c = Client(root)
ents = {e["key"]: e for e in c.list()}
for k in ["h1", "h2", "h3", "h4", "p1"] + acked:
    assert k in ents, "%s lost; have %d entries" % (k, len(ents))
    if k != "p1":
        assert ents[k]["short_path"] == short_path(root, k) and ents[k]["holders"] == 1, ents[k]
assert "h5" not in ents
print("ok - %d entries back after the restart" % len(ents))

# 6. the early client is served through the same listening socket
t, i, f, fds = c.call("get", key="h1")
assert t == "ok", f
ls = socket.socket(fileno=fds[0])
ls.settimeout(10)
conn, _ = ls.accept()
assert conn.recv(5) == b"hello"
conn.sendall(b"world")
assert early.recv(5) == b"world"
print("ok - a client connected before the kill is served after it")
t, i, f, fds = c.call("get", key="p1")
os.write(fds[0], b"x")
assert os.read(r, 1) == b"x"
print("ok - the put fd came back")

# 7. SIGTERM: STOPPING=1, exit 0
c.close()
mark = len(seen)
os.kill(pid, signal.SIGTERM)
wait_notify("STOPPING", mark)
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
print("ok - STOPPING=1 and exit 0")
PYEOF
if grep -q "did not come back" "$T/broker.log"; then
	fail "entries were lost: $(grep 'did not come back' "$T/broker.log" | head -3)"
fi
exit 0
