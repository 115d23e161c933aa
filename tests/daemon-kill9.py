# SPDX-License-Identifier: ISC
"""daemon-kill9.py ROUNDS: kill -9 the broker under load, ROUNDS times.

Two threads bind and release owner and prepared entries as fast as the
broker answers (a prepared one as an older client does it: PREPARE, bind
its own socket at the short path, BOUND; one whose BOUND a kill cut off
is released first in the next round, as its client would, since a
person may have only 8 PREPAREs not BOUND at once); the main thread kills the broker with SIGKILL at a random
moment, starts it again and checks, from LIST, that every bind it
acknowledged is there and every release it acknowledged is not (a request
in flight at the kill may have gone either way). Prints TAP comments and
the figures; exit 1 on the first loss or resurrection.
"""
import os, random, signal, socket, subprocess, sys, threading, time
from sbproto import *

rounds = int(sys.argv[1])
root = os.environ["SOCKBROKER_ROOT"]
log = open(os.environ["SB_LOG"], "ab")
brokerd = os.path.join(os.environ["top_builddir"], "brokerd", "sockbrokerd")
rng = random.Random(int(os.environ.get("SB_SEED", "0")) or None)


def start():
    r, w = os.pipe()
    p = subprocess.Popen([brokerd, "--root", root, "--ready-fd", str(w)], pass_fds=[w],
                         stdout=log, stderr=log)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        if not f.readline():
            raise SystemExit("FAIL: the broker did not become ready")
    return p


class Load(threading.Thread):
    """Binds and releases its own keys; state[key]: True bound, False released."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.state = {}
        self.inflight = None
        self.unbound = set()    # PREPAREd, BOUND not acknowledged
        self.stop = False
        self.ops = 0

    def prepare(self, c, key):
        t, i, f, fds = c.call("bind", key=key, flags=PREPARE)
        if t != "ok":
            return t, i, f, fds
        self.unbound.add(key)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(f["short_path"])
            s.listen()
            t, i, f, fds = c.call("bind", key=key, flags=BOUND)
        if t == "ok":
            self.unbound.discard(key)
        return t, i, f, fds

    def run(self):
        try:
            c = Client(root, timeout=5)
        except OSError:
            return
        while not self.stop:
            stale = [k for k in self.unbound if self.state.get(k)]
            key = stale[0] if stale else "%s-%d" % (self.name_, rng.randrange(64))
            op = "release" if self.state.get(key) else "bind"
            self.inflight = key
            try:
                if op == "bind" and rng.random() < 0.5:
                    t, i, f, fds = c.call("bind", key=key, lifetime=OWNER)
                elif op == "bind":
                    t, i, f, fds = self.prepare(c, key)
                else:
                    t, i, f, fds = c.call("release", key=key)
            except (OSError, ValueError):
                return          # the broker died under us: this one is in flight
            for fd in fds:
                os.close(fd)
            if t is None:
                return          # the broker closed the connection as it died
            if t != "ok":
                print("FAIL: %s %s refused: %r" % (op, key, f), flush=True)
                os._exit(1)
            self.state[key] = op == "bind"
            self.unbound.discard(key)
            self.inflight = None
            self.ops += 1


state = {}
unbound = {}
total_ops = 0
p = start()
for rnd in range(rounds):
    loads = [Load("t%d" % i) for i in range(2)]
    for l in loads:
        l.state = {k: v for k, v in state.items() if k.startswith(l.name_ + "-")}
        l.unbound = unbound.setdefault(l.name_, set())
        l.start()
    time.sleep(rng.uniform(0.005, 0.06))
    p.send_signal(signal.SIGKILL)
    p.wait()
    for l in loads:
        l.stop = True
        l.join(10)
    p = start()
    present = {e["key"] for e in Client(root).list()}
    for l in loads:
        total_ops += l.ops
        for key, bound in l.state.items():
            if key == l.inflight:
                continue
            if bound and key not in present:
                print("FAIL: round %d: %s was bound (acknowledged) and is gone" % (rnd, key))
                sys.exit(1)
            if not bound and key in present:
                print("FAIL: round %d: %s was released (acknowledged) and came back" % (rnd, key))
                sys.exit(1)
        for key in l.state:
            state[key] = key in present
        if l.inflight is not None:
            state[l.inflight] = l.inflight in present
p.send_signal(signal.SIGTERM)
p.wait()
print("# %d kill -9 restarts, %d acknowledged binds and releases, %d entries at the end"
      % (rounds, total_ops, sum(state.values())))
print("ok - nothing acknowledged lost, nothing released back")
