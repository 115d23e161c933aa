# SPDX-License-Identifier: ISC
"""hard-access-put.py: root PUTs a listening socket bound at PATH (mode 0666)
as key "putsvc", mode 0666 (sbproto on PYTHONPATH, SOCKBROKER_ROOT set).

  hard-access-put.py PATH
"""
import os, socket, sys
from sbproto import *
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4)
os.chmod(sys.argv[1], 0o666)
t, i, f, fds = Client().call("put", fds=[s.fileno()], key="putsvc", has_fd=1, mode=0o666)
assert t == "ok", (t, f)
