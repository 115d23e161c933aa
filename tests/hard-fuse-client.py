# SPDX-License-Identifier: ISC
"""hard-fuse-client.py: a path proof on a FUSE mount whose getattr hangs
once BLOCK exists: the broker refuses it at its deadline (ETIMEDOUT, "did
not answer"), then the next proof of the uid at once (EAGAIN, "still
waits"); prints "ok".

  hard-fuse-client.py ROOT TESTSDIR MNT BLOCK
                     TESTSDIR: where sbproto.py is; MNT/s: the socket
                     link on the mount; BLOCK: created to make it hang
"""
import errno, os, sys, time
sys.path.insert(0, sys.argv[2])
import sbproto
root, mnt, block = sys.argv[1], sys.argv[3], sys.argv[4]
fd = os.open(mnt + "/s", os.O_PATH | os.O_NOFOLLOW)
open(block, "w").close()          # from now on, stat of /s hangs
c = sbproto.Client(root, timeout=30)
t, _, f, _ = c.call("bind", fds=[fd], key=mnt + "/s", proof=1, has_fd=1, flags=1)
assert t == "error" and f["errno"] == errno.ETIMEDOUT, (t, f)
assert "did not answer" in f["message"], f
t, _, f, _ = c.call("bind", fds=[fd], key=mnt + "/s", proof=1, has_fd=1, flags=1)
assert t == "error" and f["errno"] == errno.EAGAIN, (t, f)
assert "still waits" in f["message"], f
print("ok", flush=True)
