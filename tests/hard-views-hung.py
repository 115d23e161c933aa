# SPDX-License-Identifier: ISC
"""hard-views-hung.py: a path proof of MNT/s on a FUSE mount whose getattr
hangs once BLOCK exists (sbproto on PYTHONPATH, SOCKBROKER_ROOT set);
prints "reply TYPE ERRNO" when the broker answers.

  hard-views-hung.py MNT BLOCK
"""
import os, sys
from sbproto import *
mnt, block = sys.argv[1:3]
fd = os.open(mnt + "/s", os.O_PATH | os.O_NOFOLLOW)
c = Client(timeout=30)
open(block, "w").close()          # from now on, stat of /s hangs
t, _, f, _ = c.call("bind", fds=[fd], key=mnt + "/s", proof=1, has_fd=1, flags=1)
print("reply", t, f.get("errno"), flush=True)
