# SPDX-License-Identifier: ISC
"""hard-users-rootkey.py: run as uid 65534 (sbproto on PYTHONPATH,
SOCKBROKER_ROOT set): it replaces root's link at KEY by its own and PREPAREs
KEY with that proof: a claim of its own, at a short path other than RSP.

  hard-users-rootkey.py KEY RSP   KEY: root's path key, RSP: its short path
"""
import errno, os, sys
from sbproto import *
root = os.environ["SOCKBROKER_ROOT"]
key, rsp = sys.argv[1:3]
os.unlink(key)
os.symlink(short_path(root, key), key)
fd = os.open(key, os.O_PATH | os.O_NOFOLLOW)
c = Client(root)
t, i, f, fds = c.call("bind", fds=[fd], key=key, proof=1, has_fd=1, flags=PREPARE)
assert t == "ok" and f["short_path"] != rsp, (t, f)
print("ok - a path root owns: another claim gets a short path of its own")
