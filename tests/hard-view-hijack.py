#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A request by key alone never reaches another view's claim (hard-view-hijack.sh).

The attacker (uid 65534) claims a long path in a private view A (its own
mount namespace, a tmpfs over the directory): a client of another uid, or
root, in the host's view asking for that key by name alone (resolve, get,
wait) must not reach it, before or after the victim's service (uid 4242)
claims the same string in the host's view. A client in a third view B, where
another service of uid 4242 claimed the string, reaches that service's claim,
the one the link in its own view names, also when it waited for it before the
claim was made. Root may release a key's only claim whatever its view.
"""
import os
import subprocess
import sys

SB = os.environ["SOCKBROKER"]
T = os.environ["T"]
TMP = os.path.join(T, "tmp")
SUB = "p" * 60 + "/" + "q" * 60
ATTACKER, SERVICE, CLIENT = 65534, 4242, 4243
holders = []
waiters = []


def fail(msg):
    print("not ok - " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok - " + msg, flush=True)


def as_uid(uid):
    if uid == 0:
        return []
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]


def view(pid):
    return [] if pid is None else ["nsenter", "-t", str(pid), "-m", "--"]


def sb(args, uid=0, ns=None, check=None):
    """Run sockbroker ARGS as uid in view ns (a holder's pid, None: the host's)."""
    r = subprocess.run(view(ns) + as_uid(uid) + [SB] + args, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def private_view(name):
    """A process in a mount namespace of its own with a tmpfs over TMP; its pid."""
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          'mount -t tmpfs -o mode=1777 "$1" "$2" && echo ready && exec cat',
                          "_", name, TMP], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    holders.append(p)
    if p.stdout.readline().strip() != "ready":
        fail("no private view %s" % name)
    return p.pid


def key_dir(key, uid, ns=None):
    d = os.path.dirname(key)
    subprocess.run(view(ns) + ["sh", "-c", 'mkdir -p "$1" && chown "$2" "$1" "$(dirname "$1")"',
                               "_", d, str(uid)], check=True)


def claim(key, uid, ns=None, mode="0777"):
    r, out, err = sb(["bind", key, "--listen", "--lifetime", "hold", "--mode", mode], uid, ns)
    if r != 0:
        fail("uid %d's bind of %s in view %s: %s" % (uid, key, ns, err))
    r, sp, err = sb(["resolve", key], uid, ns)
    if r != 0:
        fail("uid %d's resolve of its own claim: %s" % (uid, err))
    return sp


def refused(args, uid, ns, what):
    r, out, err = sb(args, uid, ns)
    if r == 0:
        fail("%s: reached %s" % (what, out or "an entry"))
    if "no entry" not in err and "did not appear" not in err:
        fail("%s: not refused as no entry: %s" % (what, err))
    ok(what + ": " + err)


def reaches(args, uid, ns, sp, what):
    r, out, err = sb(args, uid, ns)
    if r != 0:
        fail("%s: %s" % (what, err))
    if out != sp:
        fail("%s: reached %s, not %s" % (what, out, sp))
    ok(what)


def waiter(key, uid, ns):
    p = subprocess.Popen(view(ns) + as_uid(uid) + [SB, "wait", key, "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiters.append(p)
    return p


def main():
    os.makedirs(TMP, mode=0o1777)
    os.chmod(TMP, 0o1777)
    key = os.path.join(TMP, SUB, "svc.sock")
    a = private_view("attacker")

    # --- 1. the attacker's claim in its private view reaches no one else --
    key_dir(key, ATTACKER, a)
    asp = claim(key, ATTACKER, a)
    ok("uid %d claims %s in its own view: %s" % (ATTACKER, key, asp))
    w = waiter(key, 0, None)
    for uid in (CLIENT, 0):
        refused(["resolve", key], uid, None, "resolve by uid %d in the host's view" % uid)
        refused(["get", key], uid, None, "get by uid %d in the host's view" % uid)
        refused(["wait", key, "--timeout", "0"], uid, None,
                "wait by uid %d in the host's view" % uid)

    # --- 2. the victim's service claims the string in the host's view -----
    key_dir(key, SERVICE)
    ssp = claim(key, SERVICE, None, mode="0666")
    if ssp == asp:
        fail("the service's claim has the attacker's short path %s" % ssp)
    if os.readlink(key) != ssp:
        fail("the service's link in the host's view names %s, not %s" % (os.readlink(key), ssp))
    out, err = w.communicate(timeout=60)
    if w.returncode != 0 or out.strip() != ssp:
        fail("root's waiter in the host's view got %r (%s), not the service's %s"
             % (out.strip(), err.strip(), ssp))
    ok("root's waiter in the host's view is answered with the service's claim")
    for uid in (CLIENT, 0):
        reaches(["resolve", key], uid, None, ssp,
                "resolve by uid %d in the host's view: the service's claim" % uid)
    reaches(["resolve", key], ATTACKER, a, asp, "the attacker's own resolve: its own claim")
    r, out, err = sb(["get", key], CLIENT, None)
    if r == 0 or "owner uid %d" % SERVICE not in err:
        fail("get by uid %d of the service's 0666 socket: %s" % (CLIENT, err or out))
    ok("get by uid %d is judged against the service's claim (w: connect only)" % CLIENT)

    # --- 3. a third view: its link says which claim its clients mean -----
    key2 = os.path.join(TMP, SUB, "other.sock")
    key_dir(key2, ATTACKER, a)
    asp2 = claim(key2, ATTACKER, a)
    b = private_view("service")
    key_dir(key2, SERVICE, b)
    wb = [waiter(key2, uid, b) for uid in (0, CLIENT)]
    refused(["resolve", key2], 0, b, "root's resolve in view B before B's claim")
    bsp = claim(key2, SERVICE, b)
    if bsp == asp2:
        fail("B's service has the attacker's short path")
    for p, uid in zip(wb, (0, CLIENT)):
        out, err = p.communicate(timeout=60)
        if p.returncode != 0 or out.strip() != bsp:
            fail("uid %d's waiter in view B got %r (%s), not B's claim %s"
                 % (uid, out.strip(), err.strip(), bsp))
        ok("uid %d's waiter in view B is answered with B's claim, the one its link names" % uid)
    for uid in (0, CLIENT):
        reaches(["resolve", key2], uid, b, bsp, "resolve by uid %d in view B: B's claim" % uid)
    r, out, err = sb(["get", key2, "--", "true"], CLIENT, b)
    if r != 0:
        fail("get by uid %d in view B of B's 0777 claim: %s" % (CLIENT, err))
    ok("get by uid %d in view B of B's claim" % CLIENT)
    refused(["resolve", key2], CLIENT, None, "resolve of two private claims in the host's view")

    # --- 4. root cleans up: the only claim of a key, whatever its view ----
    key3 = os.path.join(TMP, SUB, "lone.sock")
    claim(key3, ATTACKER, a)
    r, out, err = sb(["release", key3], 0, None)
    if r != 0:
        fail("root's release of a key's only claim, made in another view: %s" % err)
    r, out, err = sb(["list"], 0, None)
    if "lone.sock" in out:
        fail("the released claim is still listed: %s" % out)
    ok("root releases a key's only claim, made in another view")
    r, out, err = sb(["release", key], CLIENT, None)
    if r == 0:
        fail("uid %d released the service's claim" % CLIENT)
    ok("uid %d may not release: %s" % (CLIENT, err))
    return 0


try:
    rc = main()
finally:
    for p in waiters:
        if p.poll() is None:
            p.kill()
            p.wait()
    for p in holders:
        p.stdin.close()
        p.wait()
sys.exit(rc)
