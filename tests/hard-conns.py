#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hard-conns.py: many clients and exhausted quotas (run by hard-conns.sh).

  hard-conns.py cap PID N CAP      N concurrent clients against --max-clients
                                   CAP: CAP served, the rest refused with
                                   EUSERS naming the limit; twice (the first
                                   round warms the broker up)
  hard-conns.py emfile PID N       N concurrent clients against a broker
                                   whose fd limit is lower: served or refused
                                   with EMFILE naming the limit
  hard-conns.py quota PID E C      uid 65534 fills its entry quota E and its
                                   client cap C; uid 4242 and root are served
                                   meanwhile
  hard-conns.py hold-clients C     (as the quota's uid) C clients, one more
                                   refused; "held" on stdout, wait for EOF
After each: the broker's fds back to the baseline, VmRSS within slack.
"""
import errno
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
from sbproto import *  # noqa: E402,F401

import sbtest as hl  # noqa: E402

root = os.environ["SOCKBROKER_ROOT"]
PY = sys.executable
ME = os.path.abspath(__file__)
SETPRIV = ["setpriv", "--reuid=%d", "--regid=%d", "--clear-groups"]


def as_uid(uid, args, **kw):
    cmd = [a % uid if "%d" in a else a for a in SETPRIV] + args
    return subprocess.Popen(cmd, **kw)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def served(pid):
    hl.served(root, pid)


def storm(n):
    """n clients connect at once, then each asks for its status."""
    cs = [Client(root, timeout=10) for _ in range(n)]
    outcome = {}
    for c in cs:
        try:
            c.send("status")
        except (BrokenPipeError, ConnectionResetError):
            pass        # refused: the broker closed; its error is queued
    for c in cs:
        try:
            t, i, f, _ = c.recv()
        except ConnectionResetError:
            t, i, f, _ = c.recv()   # our request went unread: the error follows
        if t == "ok":
            key = "ok"
        else:
            assert t == "error", t
            key = (f["errno"], f["message"], f.get("limit"))
        outcome[key] = outcome.get(key, 0) + 1
    return cs, outcome


def cap(pid, n, limit):
    assert raise_nofile(n + 100) >= n + 100, "cannot raise the fd limit"
    served(pid)
    cold = hl.Watch(pid)
    for rnd in ("warm-up", "measured"):
        if rnd == "measured":
            hl.settle(lambda: hl.fds(pid) == cold.fds)
        w = hl.Watch(pid) if rnd == "measured" else cold
        cs, outcome = storm(n)
        hl.log("%s round: %r" % (rnd, outcome))
        assert outcome.get("ok") == limit, outcome
        msgs = [k for k in outcome if k != "ok"]
        assert len(msgs) == 1 and outcome[msgs[0]] == n - limit, outcome
        e, msg, lim = msgs[0]
        assert e == errno.EUSERS and lim == limit, msgs
        assert "the limit is %d (--max-clients)" % limit in msg, msg
        # at the cap, the CLI says why
        r = subprocess.run([os.environ["SOCKBROKER"], "status"], capture_output=True, text=True)
        assert r.returncode == 1 and "the limit is %d (--max-clients)" % limit in r.stderr, r
        for c in cs:
            c.close()
        w.check("%d clients against --max-clients %d (%s round)" % (n, limit, rnd),
                served=lambda: served(pid))
    hl.log("VmRSS against the cold baseline: %d kB, %+d kB" % (
        hl.rss_kb(pid), hl.rss_kb(pid) - cold.rss))
    hl.ok("%d concurrent clients: %d served, %d refused with EUSERS naming the limit" % (
        n, limit, n - limit))


def emfile(pid, n):
    raise_nofile(n + 100)
    served(pid)
    w = hl.Watch(pid)
    cs, outcome = storm(n)
    hl.log("outcome: %r" % outcome)
    refused = [k for k in outcome if k != "ok"]
    assert outcome.get("ok", 0) > 0 and len(refused) == 1, outcome
    e, msg, lim = refused[0]
    assert e == errno.EMFILE and "out of file descriptors" in msg and lim > 0, refused
    assert outcome["ok"] + outcome[refused[0]] == n
    for c in cs:
        c.close()
    w.check("%d clients against a broker with %d fds" % (n, lim), served=lambda: served(pid))
    hl.ok("%d concurrent clients, fd limit %d: %d served, %d refused with EMFILE naming it" % (
        n, lim, outcome["ok"], outcome[refused[0]]))


def hold_clients(c_cap):
    cs = [Client(root) for _ in range(c_cap)]
    for c in cs:
        assert c.call("status")[0] == "ok"
    extra = Client(root)
    t, i, f, _ = extra.recv()
    assert t == "error" and f["errno"] == errno.EUSERS, (t, f)
    assert "uid %d has %d clients: the limit is %d (--max-clients-per-uid)" % (
        os.getuid(), c_cap, c_cap) in f["message"], f
    assert f["limit"] == c_cap
    print("held", flush=True)
    sys.stdin.read()
    for c in cs:
        c.close()


def other_uid_served(uid, key):
    """uid binds, gets, connects to and releases key: must work."""
    code = """
import os, socket, sys
sys.path.insert(0, %r)
from sbproto import *
c = Client(%r)
t, i, f, fds = c.call("bind", key=%r, flags=LISTEN)
assert t == "ok" and fds, (t, f)
s = socket.socket(fileno=fds[0])
x = socket.socket(socket.AF_UNIX); x.connect(f["short_path"]); s.accept()[0].close()
t, i, f, fds = c.call("get", key=%r)
assert t == "ok" and fds, (t, f)
assert c.call("release", key=%r)[0] == "ok"
""" % (os.path.join(os.environ["top_srcdir"], "tests"), root, key, key, key)
    p = as_uid(uid, [PY, "-c", code])
    assert p.wait() == 0, "uid %d was not served" % uid


def quota(pid, e_cap, c_cap):
    served(pid)
    w = hl.Watch(pid)
    fill = """
import errno, sys
sys.path.insert(0, %r)
from sbproto import *
c = Client(%r)
for n in range(%d):
    t, i, f, _ = c.call("bind", key="q%%d" %% n, flags=LISTEN)
    assert t == "ok", (n, t, f)
t, i, f, _ = c.call("bind", key="over", flags=LISTEN)
assert t == "error" and f["errno"] == errno.EDQUOT, (t, f)
assert "the limit is %d (--max-entries-per-uid)" in f["message"] and f["limit"] == %d, f
t, i, f, _ = c.call("put", fds=[0], key="over", has_fd=1)
assert t == "error" and f["errno"] == errno.EDQUOT, (t, f)
print(f["message"])
""" % (os.path.join(os.environ["top_srcdir"], "tests"), root, e_cap, e_cap, e_cap)
    p = as_uid(65534, [PY, "-c", fill], stdout=subprocess.PIPE, text=True)
    out = p.communicate()[0]
    assert p.returncode == 0, "uid 65534 filling its quota"
    hl.log("uid 65534 over its entry quota: %s" % out.strip())
    other_uid_served(4242, "other-uid-entry")
    c = Client(root)
    assert c.call("bind", key="root-entry", flags=LISTEN)[0] == "ok"
    assert c.call("release", key="root-entry")[0] == "ok"
    hl.ok("uid 65534 at its entry quota (%d): EDQUOT naming the limit; uid 4242 and root served"
          % e_cap)
    h = as_uid(65534, [PY, ME, "hold-clients", str(c_cap)], stdin=subprocess.PIPE,
               stdout=subprocess.PIPE, text=True)
    assert h.stdout.readline().strip() == "held", "uid 65534 did not reach its client cap"
    other_uid_served(4242, "other-uid-entry-2")
    assert c.call("status")[0] == "ok"
    h.stdin.close()
    assert h.wait() == 0
    hl.ok("uid 65534 at its client cap (%d): EUSERS naming the limit; uid 4242 and root served"
          % c_cap)
    for n in range(e_cap):
        assert c.call("release", key="q%d" % n)[0] == "ok"
    c.close()
    w.check("quota exhaustion", served=lambda: served(pid))


def main(argv):
    cmd = argv[0]
    if cmd == "cap":
        cap(int(argv[1]), int(argv[2]), int(argv[3]))
    elif cmd == "emfile":
        emfile(int(argv[1]), int(argv[2]))
    elif cmd == "quota":
        quota(int(argv[1]), int(argv[2]), int(argv[3]))
    elif cmd == "hold-clients":
        hold_clients(int(argv[1]))
    else:
        raise SystemExit("usage: see the docstring")


if __name__ == "__main__":
    main(sys.argv[1:])
