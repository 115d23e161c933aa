#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The short path handed before main is the program's own view's (shim-view-predict.sh).

Root serves a long path in the host's view (socat under the shim, "HOST").
In a private view (its own mount namespace, a tmpfs over the directory),
uid 65534 runs a statically linked client under sockbroker exec with that
long path on its command line: it must not reach the host's server (its
view has no link to it), and once its own view's server is up ("PRIV", a
claim in view 1) it reaches that one, as a shimmed client there does, while
root's client in the host's view still reaches the host's. A server that
binds a temporary name beside the short path it was handed and renames it
into place (a first claim in the private view, which the broker gives view
1) works, and is reached from its view only.
"""
import os
import subprocess
import sys

from sbtest import ok, settle

SB = os.environ["SOCKBROKER"]
T = os.environ["T"]
SHIM = os.environ["SB_SHIM"]
PROG = os.environ["SHIM_PROG"]
STATIC = os.environ["SHIM_PROG_STATIC"]
TMP = os.path.join(T, "tmp")
SUB = "v" * 60 + "/" + "w" * 60
USER = 65534
LOG = open(os.path.join(T, "shim.log"), "a")
procs = []


def fail(msg):
    print("not ok - " + msg, flush=True)
    sys.exit(1)


def as_uid(uid):
    return [] if uid == 0 else ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                                "--clear-groups"]


def view(pid):
    return [] if pid is None else ["nsenter", "-t", str(pid), "-m", "--"]


def cmd(args, uid=0, ns=None, env=()):
    return view(ns) + as_uid(uid) + ["env"] + list(env) + list(args)


def run(args, uid=0, ns=None, env=()):
    r = subprocess.run(cmd(args, uid, ns, env), capture_output=True, text=True, timeout=60)
    LOG.write(r.stderr)
    LOG.flush()
    return r.returncode, r.stdout.strip() or r.stderr.strip()


def bg(args, uid=0, ns=None, env=()):
    p = subprocess.Popen(cmd(args, uid, ns, env), stdout=subprocess.PIPE, stderr=LOG,
                         text=True)
    procs.append(p)
    return p


def private_view():
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          'mount -t tmpfs -o mode=1777 tmpfs "$1" && echo ready && exec cat',
                          "_", TMP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(p)
    if p.stdout.readline().strip() != "ready":
        fail("no private view")
    return p.pid


def key_dir(key, uid, ns=None):
    subprocess.run(view(ns) + ["sh", "-c", 'mkdir -p "$1" && chown "$2" "$1"', "_",
                               os.path.dirname(key), str(uid)], check=True)


def linked(key, ns=None):
    return subprocess.run(view(ns) + ["test", "-S", key]).returncode == 0


def server(key, name, uid, ns=None):
    """socat under the shim at key: every connection gets name (anyone may connect).

    The child reads the client's one byte before it answers: socat passes
    the byte on to the child, and a child that had already exited made that
    write fail, and socat close the connection without the answer (3% of
    connections here, with no shim involved)."""
    p = bg(["LD_PRELOAD=" + SHIM, "sh", "-c", 'umask 0 && exec "$@"', "_", "socat", "-t30",
            "UNIX-LISTEN:" + key + ",fork", "SYSTEM:head -c1 >/dev/null; echo " + name], uid, ns)
    if not settle(lambda: linked(key, ns), 60):
        fail("%s's server at %s did not come up" % (name, key))
    return p


def static_call(key, uid, ns):
    return run([SB, "exec", "--mode", "broker", "--", STATIC, "call", key, "x"], uid, ns,
               ["SOCKBROKER_SHIM=" + SHIM, "SOCKBROKER_REWRITE=shim-prog-static * client path"])


def shim_call(key, uid, ns, msg="x"):
    return run(["LD_PRELOAD=" + SHIM, PROG, "call", key, msg], uid, ns)


def main():
    os.makedirs(TMP, mode=0o1777)
    os.chmod(TMP, 0o1777)
    os.chmod(T, 0o755)
    a = private_view()

    # --- 1. a static client in a private view, the host's claim existing --
    key = os.path.join(TMP, SUB, "svc.sock")
    key_dir(key, 0)
    server(key, "HOST", 0)
    key_dir(key, USER, a)
    r, out = static_call(key, USER, a)
    if r == 0 or "connect" not in out:
        fail("the static client of uid %d in a private view, no server there: %r (%d), "
             "not its connect's failure (the host's server is no one's here)" % (USER, out, r))
    ok("the static client in the private view does not reach the host's claim: " + out)
    server(key, "PRIV", USER, a)
    r, out = static_call(key, USER, a)
    if r != 0 or out != "PRIV":
        fail("the static client in the private view got %r (%d), not its view's PRIV" % (out, r))
    ok("the static client in the private view reaches its view's server")
    r, out = shim_call(key, USER, a)
    if r != 0 or out != "PRIV":
        fail("the shimmed client in the private view got %r (%d), not PRIV" % (out, r))
    ok("the shimmed client in the private view reaches its view's server")
    for call in (shim_call, static_call):
        r, out = call(key, 0, None)
        if r != 0 or out != "HOST":
            fail("root's %s in the host's view got %r (%d), not HOST" % (call.__name__, out, r))
    ok("root's clients in the host's view reach the host's server")

    # --- 2. a first claim in the private view, through a temporary name ---
    key2 = os.path.join(TMP, SUB, "tmp.sock")
    key_dir(key2, USER, a)
    srv = bg(["LD_PRELOAD=" + SHIM, "SOCKBROKER_REWRITE=opt:--socket", PROG, "serve-tmp",
              "rename", "--socket", key2], USER, a)
    line = srv.stdout.readline().strip()
    if line != "ready":
        srv.wait(timeout=60)
        fail("the private view's server binding a temporary name beside the short path "
             "it was handed: exit %s (log: %s)" % (srv.returncode, LOG.name))
    ok("a first claim in the private view through a temporary name")
    key_dir(key2, 0)
    for call in (shim_call, static_call):
        r, out = call(key2, 0, None)
        if r == 0 or "connect" not in out:
            fail("root's %s in the host's view: %r (%d), not its connect's failure" %
                 (call.__name__, out, r))
    ok("root's clients in the host's view do not reach it")
    r, out = shim_call(key2, USER, a, "hello")
    if r != 0 or out != "hello":
        fail("the private view's client got %r (%d), not the echo" % (out, r))
    ok("the private view's client reaches it")
    srv.wait(timeout=60)
    return 0


try:
    rc = main()
finally:
    for p in procs:
        if p.poll() is None:
            if p.stdin is not None:
                p.stdin.close()
            else:
                p.kill()
            p.wait()
sys.exit(rc)
