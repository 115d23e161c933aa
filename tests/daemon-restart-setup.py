# SPDX-License-Identifier: ISC
"""daemon-restart-setup.py: the entries daemon-restart.sh restarts the broker
under: a held socket (held1), an fd (fd1) and a prepared, bound socket (prep1).
"""
import os, socket
from sbproto import *
c = Client()
t, i, f, fds = c.call("bind", key="held1", flags=LISTEN, mode=0o640)
assert t == "ok", f
r, w = os.pipe()
assert c.call("put", fds=[w], key="fd1", has_fd=1)[0] == "ok"
t, i, f, fds = c.call("bind", key="prep1", flags=PREPARE)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(f["short_path"])
assert c.call("bind", key="prep1", flags=BOUND)[0] == "ok"
