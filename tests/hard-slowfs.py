#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# hard-slowfs.py: a FUSE file system with one symlink, /s, pointing at
# $SLOWFS_TARGET, whose getattr hangs once the file $SLOWFS_BLOCK exists:
# a client-controlled path that makes stat(2) wait (hard-fuse.sh); it
# makes $SLOWFS_BLOCK.hit when a getattr starts to hang (hard-views.sh).
import os, sys, stat, time, errno
import fuse
fuse.fuse_python_api = (0, 2)
TARGET = os.environ["SLOWFS_TARGET"]
BLOCK = os.environ["SLOWFS_BLOCK"]
class St(fuse.Stat):
    def __init__(self, **kw):
        for k in ("st_mode","st_ino","st_dev","st_nlink","st_uid","st_gid","st_size","st_atime","st_mtime","st_ctime"):
            setattr(self, k, 0)
        for k, v in kw.items(): setattr(self, k, v)
class Slow(fuse.Fuse):
    def getattr(self, path):
        if path == "/":
            return St(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        if path == "/s":
            if os.path.exists(BLOCK):
                open(BLOCK + ".hit", "w").close()   # someone waits on us now
                time.sleep(3600)
            return St(st_mode=stat.S_IFLNK | 0o777, st_nlink=1, st_size=len(TARGET), st_ino=7)
        return -errno.ENOENT
    def readlink(self, path):
        return TARGET
    def readdir(self, path, offset):
        for n in (".", "..", "s"):
            yield fuse.Direntry(n)
srv = Slow()
srv.parse(errex=1)
srv.main()
