#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""cli-list-stream.py: `sockbroker list --json` prints entries as they come.

A fake broker at ROOT/control answers LIST with 150 ENTRY messages (more
JSON than stdio buffers) and then holds back its END until the
CLI's stdout has given us the start of the array. A CLI that builds the
whole list first prints nothing before END: the fake broker gives up after
a long wait (a hang, not a measure) and the test fails. Then END comes and
the output must be one valid JSON array of the 400 entries.
"""
import json
import os
import select
import socket
import subprocess
import sys

import sbproto as sp

N = 150  # about 37 KB of JSON: more than stdio buffers, less than a pipe holds
GIVE_UP = 30.0  # seconds: only a CLI that never prints meets this


def main():
    cli, root = os.environ["SOCKBROKER"], os.environ["T"] + "/fake-root"
    os.makedirs(root, mode=0o755)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(root + "/control")
    srv.listen(4)
    p = subprocess.Popen([cli, "--root", root, "list", "--json"], stdout=subprocess.PIPE)
    srv.settimeout(GIVE_UP)
    c, _ = srv.accept()
    c.settimeout(GIVE_UP)
    t, mid, _ = sp.decode(c.recv(sp.MSG_MAX))
    if t != "list":
        print("FAIL: the CLI sent %s, not list" % t)
        return 1
    for i in range(N):
        c.send(sp.encode("entry", mid, key="stream/%04d" % i, kind=sp.KIND_SOCKET,
                         socktype=1, lifetime=sp.HOLD, uid=0, pid=0, gid=0, mode=0o600,
                         ctime=1, holders=1, listening=1,
                         short_path="/run/sockbroker/aa/%040d/sock" % i))
    r, _, _ = select.select([p.stdout], [], [], GIVE_UP)
    if not r:
        print("FAIL: list --json printed nothing of %d entries before the end of the list" % N)
        p.kill()
        return 1
    first = os.read(p.stdout.fileno(), 65536)
    if not first.startswith(b"["):
        print("FAIL: list --json began with %r" % first[:40])
        p.kill()
        return 1
    c.send(sp.encode("end", mid))
    rest, _ = p.communicate(timeout=GIVE_UP)
    if p.returncode != 0:
        print("FAIL: list --json exited %d" % p.returncode)
        return 1
    out = json.loads(first + rest)
    if len(out) != N or out[0]["key"] != "stream/0000" or out[-1]["key"] != "stream/%04d" % (N - 1):
        print("FAIL: list --json gave %d entries, expected %d" % (len(out), N))
        return 1
    print("ok: %d bytes before the end of the list, %d entries" % (len(first), len(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
