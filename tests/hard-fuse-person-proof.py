# SPDX-License-Identifier: ISC
"""hard-fuse-person-proof.py: a path proof of MNT/s on a FUSE mount whose
getattr hangs once BLOCK exists (sbproto on PYTHONPATH, SOCKBROKER_ROOT set);
prints the reply's type and errno.

  hard-fuse-person-proof.py MNT BLOCK   creates BLOCK (the mount hangs from
                                        then on), then sends the proof
  hard-fuse-person-proof.py MNT -       opens MNT/s while the mount answers,
                                        prints "ready", sends the proof when
                                        a line comes on stdin
"""
import os, sys
from sbproto import *
mnt, block = sys.argv[1:3]
fd = os.open(mnt + "/s", os.O_PATH | os.O_NOFOLLOW)   # before the mount hangs
if block == "-":
    print("ready", flush=True)
    sys.stdin.readline()
else:
    open(block, "w").close()      # from now on, stat of /s hangs
t, _, f, _ = Client(timeout=30).call("bind", fds=[fd], key=mnt + "/s", proof=1, has_fd=1)
print(t, f.get("errno"), flush=True)
