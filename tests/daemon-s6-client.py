# SPDX-License-Identifier: ISC
"""daemon-s6-client.py: a client of daemon-s6.sh queued on a held socket
across the restart: connects to SP, sends "ping", writes "connected" to
FLAG, prints the first reply it gets (60 s at most).

  daemon-s6-client.py SP FLAG
"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"ping\n")
open(sys.argv[2], "w").write("connected\n")
s.settimeout(60)
print(s.recv(64).decode().strip())
