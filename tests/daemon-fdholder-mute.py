# SPDX-License-Identifier: ISC
"""daemon-fdholder-mute.py: a server that accepts and never answers (a hung
s6-fdholderd); writes "ready" to READYFILE once it listens.

  daemon-fdholder-mute.py SOCKPATH READYFILE
"""
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
open(sys.argv[2], "w").write("ready\n")
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)	# read nothing, answer nothing
