#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""hard-prepare.py: pending PREPAREs are bounded (run as a second uid).

    hard-prepare.py fill PREFIX N   PREPARE PREFIX0..PREFIX(N-1), all kept
                                    pending: every one is accepted
    hard-prepare.py over KEY        one more PREPARE: EAGAIN, naming the limit
    hard-prepare.py again KEY       PREPARE KEY: accepted (print its directory)
    hard-prepare.py adopt KEY [bound]  ADOPT an unbound stream socket at KEY,
                                    held (listen and BOUND it if "bound")
    hard-prepare.py adoptowner KEY SECS  ADOPT one of owner lifetime, say
                                    "adopted", then live SECS without listening
"""
import errno
import socket
import sys

import time

from sbproto import ADOPT, BOUND, HOLD, OWNER, PREPARE, Client


def prepare(c, key):
    return c.call("bind", key=key, flags=PREPARE)


def main():
    c = Client()
    op, key = sys.argv[1], sys.argv[2]
    if op == "fill":
        for n in range(int(sys.argv[3])):
            t, i, f, _ = prepare(c, "%s%d" % (key, n))
            if t != "ok":
                print("FAIL: PREPARE %s%d: %r" % (key, n, f), file=sys.stderr)
                sys.exit(1)
    elif op == "over":
        t, i, f, _ = prepare(c, key)
        if t != "error" or f.get("errno") != errno.EAGAIN or f.get("limit") != 8:
            print("FAIL: PREPARE %s beyond the limit: %s %r" % (key, t, f), file=sys.stderr)
            sys.exit(1)
        print(f["message"])
    elif op == "adopt":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            t, i, f, _ = c.call("bind", fds=[s.fileno()], key=key, flags=ADOPT, has_fd=1,
                                lifetime=HOLD)
            if t == "ok" and sys.argv[3:] == ["bound"]:
                s.listen()
                t, i, f, _ = c.call("bind", key=key, flags=BOUND)
        if t != "ok":
            print("FAIL: ADOPT %s: %r" % (key, f), file=sys.stderr)
            sys.exit(1)
    elif op == "adoptowner":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            t, i, f, _ = c.call("bind", fds=[s.fileno()], key=key, flags=ADOPT, has_fd=1,
                                lifetime=OWNER)
            if t != "ok":
                print("FAIL: ADOPT %s: %r" % (key, f), file=sys.stderr)
                sys.exit(1)
            print("adopted", flush=True)
            time.sleep(float(sys.argv[3]))
    elif op == "again":
        t, i, f, _ = prepare(c, key)
        if t != "ok":
            print("FAIL: PREPARE %s: %r" % (key, f), file=sys.stderr)
            sys.exit(1)
        print(f["short_path"])
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
