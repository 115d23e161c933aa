# SPDX-License-Identifier: ISC
"""shim-suid.py: the shim in a setuid-root program (tests/shim-suid.sh).

Run as root in a private mount namespace: argv SHIM HELPER T RULES_DIR.
/etc/ld.so.preload (an overlay on /etc) names the shim, which the loader
then maps into setuid programs too; /etc/sockbroker/rewrite.d has QEMU's
rules, and /run/sockbroker (a tmpfs) a socket that listens as a system
broker would. The setuid-root copy of HELPER runs as uid 65534 under the
name qemu-system-x86_64, with an over-long path that is a socket, a
-chardev and a -readconfig of a file only root may read, and an
attacker's SOCKBROKER_* environment (a root of its own, with a control
socket that listens). The shim must be inert there: the arguments and
the environment as given, no message, no connection to either control
socket, nothing made in either root, and the kernel's EINVAL for the
over-long addresses.
"""
import errno
import os
import shutil
import socket
import subprocess
import sys

NOBODY = 65534


def log(msg):
    print("# " + msg, flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def long_path(base, name, n=160):
    d = base
    while len(d) + 1 + len(name) < n:
        d = os.path.join(d, "d" * 20)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def listener(path, kind=socket.SOCK_STREAM):
    """A listening socket at path (any length: bound from its directory)."""
    s = socket.socket(socket.AF_UNIX, kind)
    cwd = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        s.bind(os.path.basename(path))
    finally:
        os.chdir(cwd)
    s.listen(16)
    s.setblocking(False)
    return s


def contacted(s):
    """Did anyone connect? The backlog keeps even a connection closed since."""
    try:
        c, _ = s.accept()
    except BlockingIOError:
        return False
    c.close()
    return True


def tree(top):
    out = []
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(d, n), top))
    return sorted(out)


def mount(*args):
    r = subprocess.run(["mount"] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        print("SKIP: mount %s: %s" % (" ".join(args), r.stderr.strip()), flush=True)
        sys.exit(77)


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def main():
    shim, helper, t, rules, sysconfdir = sys.argv[1:6]

    # the setuid-root copy, where the other uid may run it
    sdir = os.path.join(t, "suid")
    os.makedirs(sdir)
    os.chmod(sdir, 0o755)
    prog = os.path.join(sdir, "shim-suid")
    shutil.copy(helper, prog)
    os.chown(prog, 0, 0)
    os.chmod(prog, 0o4755)

    # the attacker's root, with a control socket that listens
    evil = os.path.join(t, "evil")
    os.makedirs(evil)
    os.chmod(evil, 0o777)
    evil_ctl = listener(os.path.join(evil, "control"), socket.SOCK_SEQPACKET)
    os.chmod(os.path.join(evil, "control"), 0o777)
    os.makedirs(os.path.join(evil, "rules"))
    with open(os.path.join(evil, "rules", "suid.rules"), "w") as f:
        f.write("qemu-system-* --evil either path\n")

    # an over-long path that is a socket (the generic client rule), one that is not
    sock = long_path(os.path.join(t, "long"), "suid.sock")
    srv = listener(sock)
    newp = long_path(os.path.join(t, "long"), "suid-new.sock")
    p = os.path.dirname(sock)
    while p != t:
        os.chmod(p, 0o755)
        p = os.path.dirname(p)

    # a -readconfig file only root may read
    secret = os.path.join(t, "secret.cfg")
    with open(secret, "w") as f:
        f.write('[chardev "c0"]\n  backend = "socket"\n  path = "%s"\n' % sock)
    os.chmod(secret, 0o600)

    # a system broker's root that listens, and the preload
    mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    os.makedirs("/run/sockbroker")
    sys_ctl = listener("/run/sockbroker/control", socket.SOCK_SEQPACKET)
    up, work = os.path.join(t, "etc-up"), os.path.join(t, "etc-work")
    os.makedirs(up)
    os.makedirs(work)
    mount("-t", "overlay", "overlay", "-o",
          "lowerdir=/etc,upperdir=%s,workdir=%s" % (up, work), "/etc")
    # the rule files where the shim looks in secure mode (the built-in directories)
    if os.path.realpath(sysconfdir) != "/etc" and os.path.isdir(sysconfdir):
        os.makedirs(up + "2")
        os.makedirs(work + "2")
        mount("-t", "overlay", "overlay", "-o",
              "lowerdir=%s,upperdir=%s2,workdir=%s2" % (sysconfdir, up, work), sysconfdir)
    if os.path.isdir(sysconfdir):
        os.makedirs(os.path.join(sysconfdir, "sockbroker", "rewrite.d"), exist_ok=True)
        for n in os.listdir(rules):
            shutil.copy(os.path.join(rules, n), os.path.join(sysconfdir, "sockbroker", "rewrite.d"))
    else:
        log("no %s: QEMU's rules are not installed, only the generic rule applies" % sysconfdir)
    before_evil, before_sys = tree(evil), tree("/run/sockbroker")
    with open("/etc/ld.so.preload", "w") as f:
        f.write(shim + "\n")

    args = ["qemu-system-x86_64", sock, newp, "-chardev", "socket,id=c,path=%s" % sock,
            "-readconfig", secret, "--evil", newp]
    env = {
        "PATH": "/usr/bin:/bin",
        "SOCKBROKER_ROOT": evil,
        "SOCKBROKER_MODE": "broker",
        "SOCKBROKER_DEBUG": "1",
        "SOCKBROKER_REWRITE": "qemu-system-* --evil either path",
        "SOCKBROKER_REWRITE_DIRS": os.path.join(evil, "rules"),
        "SOCKBROKER_SHIM_KEYS": newp,
    }
    r = subprocess.run(args, executable=prog, env=env, preexec_fn=as_nobody,
                       capture_output=True, text=True, timeout=120)
    os.unlink("/etc/ld.so.preload")
    out = r.stdout.splitlines()
    log("helper exit %d" % r.returncode)
    for line in out:
        log("  " + line)
    if r.stderr:
        log("stderr: " + r.stderr.strip())

    if "secure 1" not in out:
        print("SKIP: the setuid copy does not run in secure mode here: %s" % out[:1],
              flush=True)
        sys.exit(77)
    if "shim 1" not in out:
        fail("ld.so.preload did not load the shim into the setuid program: %s" % out[:2])
    if r.returncode != 0:
        fail("the helper failed (exit %d): %s" % (r.returncode, r.stderr))
    bad = []
    got = [line.split(" ", 2)[2] for line in out if line.startswith("argv ")]
    if got != args:
        bad.append("the arguments were rewritten: %s" % got)
    if "keys %s" % newp not in out:
        bad.append("SOCKBROKER_SHIM_KEYS was changed: %s" %
                   [line for line in out if line.startswith("keys ")])
    if "sockbroker-shim" in r.stderr:
        bad.append("the shim spoke: %s" % r.stderr.strip())
    for call in ("connect", "sendto", "bind"):
        want = "%s -1 %d" % (call, errno.EINVAL)
        if want not in out:
            bad.append("%s of an over-long address: %s, not the kernel's EINVAL" %
                       (call, [line for line in out if line.startswith(call + " ")]))
    if contacted(evil_ctl):
        bad.append("the shim connected to the control socket of SOCKBROKER_ROOT")
    if contacted(sys_ctl):
        bad.append("the shim connected to the system broker's control socket")
    if contacted(srv):
        bad.append("something connected to the over-long socket")
    if tree(evil) != before_evil:
        bad.append("files made in SOCKBROKER_ROOT: %s" % sorted(set(tree(evil)) - set(before_evil)))
    if tree("/run/sockbroker") != before_sys:
        bad.append("files made in /run/sockbroker: %s" % tree("/run/sockbroker"))
    if os.path.lexists(newp):
        bad.append("something was made at the bind path")
    if bad:
        fail("; ".join(bad))
    print("ok - the shim is inert in a setuid program", flush=True)


main()
