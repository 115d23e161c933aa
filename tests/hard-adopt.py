#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hard-adopt.py: entry directories are the broker's (run as uid 65534).

    hard-adopt.py adopt DIR    ADOPT a name and a path key in DIR (nobody's):
                               the broker binds the client's own socket in a
                               directory of its own that the client cannot
                               write, the socket file is the client's, the
                               client listens, BOUND, and a client connects
    hard-adopt.py plant KEY N  PREPARE KEY and plant a tree N levels deep in
                               its directory (files, fifos, sockets, symlinks
                               to outside); print the directory
"""
import errno
import os
import socket
import stat
import struct
import sys

from sbproto import ADOPT, BOUND, LISTEN, PREPARE, Client


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)


def cannot(what, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        check(e.errno in (errno.EACCES, errno.EPERM), "%s: %s, want EACCES" % (what, e))
        return
    check(False, "%s succeeded in the broker's directory" % what)


def adopted(c, key, fds, **fields):
    t, i, f, rfds = c.call("bind", fds=fds, key=key, flags=ADOPT, has_fd=len(fds), **fields)
    check(t == "ok", "ADOPT %s: %r" % (key, f))
    check(not rfds, "ADOPT %s: an fd came back" % key)
    return f["short_path"]


def serve(c, key, s, sp):
    d = os.path.dirname(sp)
    st = os.stat(d)
    check(st.st_uid == 0, "%s is uid %d's, not the broker's" % (d, st.st_uid))
    check(stat.S_IMODE(st.st_mode) in (0o710, 0o711), "%s has mode %o" % (d, st.st_mode))
    sst = os.lstat(sp)
    check(stat.S_ISSOCK(sst.st_mode) and sst.st_uid == os.getuid(),
          "the socket file %s is not a socket of uid %d" % (sp, os.getuid()))
    check(s.getsockname() == sp, "the socket is bound at %r, not %s" % (s.getsockname(), sp))
    cannot("creating a file in " + d, lambda: os.close(os.open(os.path.join(d, "junk"),
                                                                 os.O_CREAT | os.O_WRONLY, 0o600)))
    cannot("mkdir in " + d, os.mkdir, os.path.join(d, "tree"))
    cannot("renaming the socket in " + d, os.rename, sp, os.path.join(d, "moved"))
    cannot("chmod of " + d, os.chmod, d, 0o777)
    os.chmod(sp, 0o600)		# the socket file is the client's
    s.listen(4)
    t, i, f, _ = c.call("bind", key=key, flags=BOUND)
    check(t == "ok", "BOUND %s: %r" % (key, f))
    t, i, f, _ = c.call("wait", key=key)
    check(t == "ok" and f["short_path"] == sp, "wait %s: %r" % (key, f))
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(sp)
    conn, _ = s.accept()
    peer.sendall(b"ping")
    check(conn.recv(4) == b"ping", "no data through the adopted socket")
    conn.close()
    peer.close()


def adopt(where):
    c = Client()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sp = adopted(c, "adopted", [s.fileno()])
    serve(c, "adopted", s, sp)
    # bound already, or not AF_UNIX: refused
    t, i, f, _ = c.call("bind", fds=[s.fileno()], key="again", flags=ADOPT, has_fd=1)
    check(t == "error" and f["errno"] == errno.EINVAL, "ADOPT of a bound socket: %r" % f)
    u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t, i, f, _ = c.call("bind", fds=[u.fileno()], key="inet", flags=ADOPT, has_fd=1)
    check(t == "error" and f["errno"] == errno.EAFNOSUPPORT, "ADOPT of AF_INET: %r" % f)
    # a path key: the proof first, then the socket
    key = os.path.join(where, "p" * 150 + ".sock")
    from sbproto import short_path
    os.symlink(short_path(c.root, key), key)
    proof = os.open(key, os.O_PATH | os.O_NOFOLLOW)
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sp2 = adopted(c, key, [proof, s2.fileno()], proof=1)
    os.close(proof)
    serve(c, key, s2, sp2)
    # dgram: ready at once
    s3 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sp3 = adopted(c, "dgram", [s3.fileno()], socktype=socket.SOCK_DGRAM)
    t, i, f, _ = c.call("wait", key="dgram")
    check(t == "ok" and f["short_path"] == sp3, "wait dgram: %r" % f)
    print("ok")


def plant(key, depth):
    c = Client()
    t, i, f, _ = c.call("bind", key=key, flags=PREPARE)
    check(t == "ok", "PREPARE %s: %r" % (key, f))
    d = os.path.dirname(f["short_path"])
    p = d
    for n in range(depth):
        p = os.path.join(p, "d")
        os.mkdir(p)
        with open(os.path.join(p, "f"), "w") as fh:
            fh.write("x" * 100)
        os.mkfifo(os.path.join(p, "fifo"))
        os.symlink(sys.argv[4], os.path.join(p, "out"))
        os.symlink("/", os.path.join(p, "root"))
        if n % 8 == 0:
            # relative to the directory: deep paths do not fit sun_path
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            cwd = os.open(".", os.O_PATH)
            os.chdir(p)
            s.bind("s")
            os.fchdir(cwd)
            os.close(cwd)
            s.close()
    print(d)


def spoof(key):
    """A LISTEN on an ADOPTed socket is refused: connectors would see the broker's creds."""
    c = Client()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sp = adopted(c, key, [s.fileno()], lifetime=1)
    t, i, f, rfds = c.call("bind", key=key, flags=LISTEN)
    for fd in rfds:
        os.close(fd)
    check(t == "error" and f.get("errno") == errno.EINVAL,
          "BIND LISTEN of the ADOPTed %s: %s %r, want EINVAL" % (key, t, f))
    s.listen(4)
    t, i, f, _ = c.call("bind", key=key, flags=BOUND)
    check(t == "ok", "BOUND %s: %r" % (key, f))
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.connect(sp)
    pid, uid, gid = struct.unpack("3i", peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        12))
    check(uid == os.getuid() and pid == os.getpid(),
          "a connector of %s sees pid %d uid %d, not the client's" % (key, pid, uid))
    print(f.get("message", ""))


def main():
    if sys.argv[1] == "adopt":
        adopt(sys.argv[2])
    elif sys.argv[1] == "spoof":
        spoof(sys.argv[2])
    elif sys.argv[1] == "plant":
        plant(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
