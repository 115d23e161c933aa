#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""shim-rules-fs.py MOUNTPOINT -f: a FUSE file system (python3-fuse) of one
regular file, RULES_NAME, whose text is RULES_TEXT, opened with direct_io
and answered RULES_CHUNK bytes per read, as FUSE, 9p or NFS may answer
(run by shim-rules-fuse.sh). stat gives its true size."""
import errno
import os
import stat

import fuse

fuse.fuse_python_api = (0, 2)
NAME = "/" + os.environ["RULES_NAME"]
TEXT = os.environ["RULES_TEXT"].encode()
CHUNK = int(os.environ.get("RULES_CHUNK", "7"))


class Stat(fuse.Stat):
    def __init__(self, mode, nlink, size=0):
        for k in ("st_ino", "st_dev", "st_uid", "st_gid", "st_atime", "st_mtime", "st_ctime"):
            setattr(self, k, 0)
        self.st_mode, self.st_nlink, self.st_size = mode, nlink, size


class RulesFS(fuse.Fuse):
    def getattr(self, path):
        if path == "/":
            return Stat(stat.S_IFDIR | 0o755, 2)
        if path == NAME:
            return Stat(stat.S_IFREG | 0o644, 1, len(TEXT))
        return -errno.ENOENT

    def readdir(self, path, offset):
        for name, kind in ((".", stat.S_IFDIR), ("..", stat.S_IFDIR), (NAME[1:], stat.S_IFREG)):
            yield fuse.Direntry(name, type=kind)

    def open(self, path, flags):
        if path != NAME:
            return -errno.ENOENT
        info = fuse.FuseFileInfo()
        info.direct_io = True      # each read(2) is one read here: short answers reach it
        return info

    def read(self, path, size, offset, fh=None):
        return TEXT[offset:offset + min(size, CHUNK)]


fs = RulesFS()
fs.parse(errex=1)
fs.main()
