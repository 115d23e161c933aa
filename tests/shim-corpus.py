#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""shim-corpus.py: no false rewrites (issue 10, item 1).

Generates N everyday argument vectors (git, grep, sed, echo, ssh, make,
gcc, python3, and QEMU, qemu-img, qemu-nbd, swtpm, socat, tmux, curl, nc,
dbus-daemon, redis-server, passt, virtiofsd with paths that are
files, free text, or socket paths of 108 bytes, which are legal) full of
words like unix:, Unix:, path=, socket, and long paths that are not
sockets, and runs each through BIN/PROG (shim-argv under that name) with
and without the shim preloaded. Every vector must come out byte-identical,
with the same open fds and nothing on stderr.

usage: shim-corpus.py BIN SHIM LONGDIR N SEED
"""

import os
import random
import subprocess
import sys

WORDS = ["unix:", "Unix:", "UNIX:", "unix", "UNIX-CONNECT:", "unix-listen:", "path=",
         "socket,", "socket,id=c,path=", "type=unixio,path=", "addr.type=unix,addr.path=",
         "server=on", "nbd+unix:///?socket=", "unix:path=", "spice+unix://", "fix", "the",
         "handling", "of", "socket", "paths", "longer", "than", "108", "bytes", "-chardev",
         "--unix-socket", "-S", "-U", "--", "-m", "=", ",", ",,", "{\"type\":\"unix\"}",
         "%s", "\\", "'", "\"", "é", "sun_path", "/", "./", "../"]


FREE = ("git", "grep", "sed", "echo", "make", "gcc", "python3")


def text(rng, n):
    """Free text of about n bytes, in which a long path may stand."""
    out = []
    while sum(len(w) + 1 for w in out) < n:
        out.append(rng.choice(WORDS))
    return " ".join(out)


def vectors(rng, longdir, p108, n):
    lp = lambda: longdir + "/" + rng.choice(["disk.qcow2", "x", "state", "log", "a b", "c,d"])
    rel = "a/" * 70 + "sock"
    make = [
        lambda: ("git", ["commit", "-m", "Unix: fix the handling of " + lp() + " " + text(rng, 200)]),
        lambda: ("git", ["commit", "-q", "-m", rng.choice(WORDS) + lp()]),
        lambda: ("git", ["log", "--grep", "unix:" + lp(), "--", lp()]),
        lambda: ("git", ["add", lp(), rel]),
        lambda: ("grep", ["-r", "unix:" + "x" * 150, lp()]),
        lambda: ("grep", ["-e", rng.choice(WORDS) + lp(), "-e", text(rng, 130), lp()]),
        lambda: ("sed", ["-e", "s|unix:" + lp() + "|x|", "-i", lp()]),
        lambda: ("echo", [text(rng, rng.randrange(100, 400)) for _ in range(rng.randrange(1, 4))]),
        lambda: ("echo", [rng.choice(WORDS) + lp(), "socket,path=" + lp(), lp()]),
        lambda: ("ssh", ["-V"]),
        lambda: ("ssh", ["host", "socat", "-", "UNIX-CONNECT:" + lp()]),
        lambda: ("ssh", ["-o", "ControlPath=" + lp() + "/%C", "host", "tmux", "-S", lp()]),
        lambda: ("ssh", ["-S", p108, "-p", "22", "host", "echo", "unix:" + lp()]),
        lambda: ("make", ["SOCK=unix:" + lp(), "V=1", "-C", lp()]),
        lambda: ("gcc", ["-DPATH=\"" + lp() + "\"", "-o", lp(), "-I" + lp(), "x.c"]),
        lambda: ("python3", ["-c", "print('unix:%s')" % lp()]),
        lambda: ("python3", ["-c", "import socket; s.bind('" + lp() + "')", rel]),
        lambda: ("qemu-system-x86_64", [
            "-name", "vm,debug-threads=on", "-drive", "file=" + lp() + ",if=virtio",
            "-pidfile", lp(), "-D", lp(), "-chardev", "file,id=f,path=" + lp(),
            "-qmp", "unix:" + p108 + ",server=on,wait=off", "-vnc", "unix:" + p108,
            "-object", "memory-backend-file,id=m,mem-path=" + lp(),
            "-netdev", "stream,id=n,addr.type=inet,addr.path=" + lp(),
            "-spice", "addr=" + lp(), "-append", text(rng, 150)]),
        lambda: ("qemu-system-x86_64", [
            "-blockdev", '{"driver":"file","filename":"%s"}' % lp(),
            "-netdev", '{"type":"stream","addr":{"type":"inet","path":"%s"}}' % lp(),
            "-chardev", "socket,id=c,path=" + p108 + ",server=on"]),
        lambda: ("qemu-img", ["create", "-f", "qcow2", "-b", lp(), "-F", "qcow2", lp()]),
        lambda: ("qemu-img", ["create", "-b", "nbd+unix:///e?socket=" + lp(), "-o",
                              "backing_file=nbd+unix:///?socket=" + lp(), "x.qcow2"]),
        lambda: ("swtpm", ["socket", "--tpmstate", "dir=" + lp(), "--log", "file=" + lp(),
                           "--ctrl", "type=unixio,path=" + p108, "--pid", "file=" + lp()]),
        lambda: ("socat", ["-d", "OPEN:" + lp() + ",creat", "UNIX-CONNECT:" + p108]),
        lambda: ("socat", ["-", "ABSTRACT-CONNECT:" + lp()]),
        lambda: ("tmux", ["new", "-d", "unix:" + lp(), "-S", lp()]),
        lambda: ("curl", ["-o", lp(), "http://localhost/" + text(rng, 150)]),
        lambda: ("nc", ["-w", "1", lp(), "80"]),
        lambda: ("rm", ["-f", lp()]),
        lambda: ("dbus-daemon", ["--config-file=" + lp(), "--address=unix:tmpdir=" + lp(),
                                 "--print-address"]),
        lambda: ("redis-server", ["--pidfile", lp(), "--logfile", lp(), "--unixsocket", p108]),
        lambda: ("passt", ["--pid", lp(), "-s", p108]),
        lambda: ("virtiofsd", ["-o", "source=" + lp(), "--socket-path=" + p108]),
        lambda: ("qemu-nbd", ["--pid-file=" + lp(), "-D", "unix:" + lp(), "-x", "unix:" + lp(),
                              lp(), "-k", p108]),
        lambda: ("qemu-system-x86_64", [
            "-object", "secret,id=s,data=unix:" + lp(), "-device",
            "virtio-blk-pci,drive=d,serial=unix:" + lp(), "-fw_cfg", "name=opt/x,string=unix:" + lp()]),
    ]
    for _ in range(n):
        prog, args = rng.choice(make)()
        # free text anywhere, in programs that have no rules (in the others it
        # could become an option's value and shift what follows)
        if prog in FREE and rng.random() < 0.5:
            args.insert(rng.randrange(len(args) + 1), text(rng, rng.randrange(10, 300)))
        yield prog, args


def run(path, args, env):
    p = subprocess.run([path] + args, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return p.returncode, p.stdout, p.stderr


def main():
    bindir, shim, longdir, n, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    p108 = (longdir + "/" + "s" * 200)[:108]
    plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    shimmed = dict(plain, LD_PRELOAD=shim)
    bad = 0
    count = 0
    for prog, args in vectors(rng, longdir, p108, n):
        path = os.path.join(bindir, prog)
        want = run(path, args, plain)
        got = run(path, args, shimmed)
        count += 1
        if got != want or got[2] != b"":
            bad += 1
            if bad <= 5:
                print("FAIL: %s %r\n  without: %r\n  with:    %r" % (prog, args, want, got))
    print("%d vectors, %d changed" % (count, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
