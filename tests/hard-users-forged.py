# SPDX-License-Identifier: ISC
"""hard-users-forged.py: run as uid 65534 (sbproto on PYTHONPATH,
SOCKBROKER_ROOT set): proofs made of its own symlinks to the victim's short
paths, and the victim's own link, are refused (EACCES).

  hard-users-forged.py VKEY VKEY2 NDIR   VKEY: a key of uid 4242's, VKEY2:
                                         one not bound yet, NDIR: a
                                         directory uid 65534 may write
"""
import errno, os, sys
from sbproto import *
root = os.environ["SOCKBROKER_ROOT"]
vkey, vkey2, ndir = sys.argv[1:4]
c = Client(root)
for n, key in enumerate((vkey, vkey2)):
    sp = short_path(root, key)
    link = os.path.join(ndir, "forged%d" % n)
    os.symlink(sp, link)
    fd = os.open(link, os.O_PATH | os.O_NOFOLLOW)
    for flags in (LISTEN, PREPARE, 0):
        t, i, f, fds = c.call("bind", fds=[fd], key=key, proof=1, has_fd=1, flags=flags)
        assert t == "error" and f["errno"] == errno.EACCES, (key, flags, t, f)
        assert "not at that path" in f["message"], f
    # the victim's own link as the proof: not nobody's
    if os.path.lexists(key):
        vfd = os.open(key, os.O_PATH | os.O_NOFOLLOW)
        t, i, f, fds = c.call("bind", fds=[vfd], key=key, proof=1, has_fd=1, flags=LISTEN)
        assert t == "error" and f["errno"] == errno.EACCES, (t, f)
        assert "owned by uid 4242" in f["message"], f
        os.close(vfd)
    os.close(fd)
print("ok - forged proofs refused")
