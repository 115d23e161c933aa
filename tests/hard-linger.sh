#!/bin/bash
# SPDX-License-Identifier: ISC
# A client-supplied fd whose last close blocks (a TCP socket lingering for
# an hour with unsent data) must not stall the broker: fds clients send are
# closed on the closer thread, never on the event loop.
. "$top_srcdir/tests/lib.sh"
need python3
sb_start

cat >"$T/linger.py" <<'PY'
import socket, struct, sys
root = sys.argv[1]

def msg(typ, key, has_fd=False):
    k = key.encode() + b"\0"
    body = struct.pack("<HH", 1, len(k)) + k                      # KEY
    if has_fd:
        body += struct.pack("<HHI", 22, 4, 1)                     # HAS_FD=1
    return struct.pack("<IHHII", 0x4b524253, 1, typ, 16 + len(body), 1) + body

# a TCP connection whose peer never reads, its send buffer full
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
c.setblocking(False)
try:
    while True:
        c.send(b"x" * 65536)
except BlockingIOError:
    pass
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 3600))
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(root + "/control")
socket.send_fds(s, [msg(0x0103, "linger", True)], [c.fileno()])    # PUT
assert struct.unpack("<H", s.recv(8192)[6:8])[0] == 0x0201, "put refused"
c.close()                       # the broker's copy is now the last one
s.send(msg(0x0106, "linger"))   # RELEASE: the broker closes it
assert struct.unpack("<H", s.recv(8192)[6:8])[0] == 0x0201, "release refused"
print("sent", flush=True)
sys.stdin.read()                # keep the receiving side open, unread
PY

if [ "$(id -u)" = 0 ]; then
	run_as=($SB_NOBODY)
	chmod 755 "$T"
else
	run_as=()
fi
PY3=$(command -v /usr/bin/python3 || command -v python3)
coproc LINGER { "${run_as[@]}" "$PY3" "$T/linger.py" "$ROOT" 2>&1; }
sb_bg $LINGER_PID
read -r -t 20 line <&"${LINGER[0]}" || fail "the lingering client did not start"
assert_eq "$line" sent "the lingering client"

# the broker still answers everyone (a hang detector, not a timing test)
for i in 1 2 3; do
	timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stalls on a lingering close"
done
short=$(timeout 20 "$SOCKBROKER" bind after-linger --listen) || fail "bind after the lingering fd"
[ -S "$short" ] || fail "no socket at $short"
timeout 20 "$SOCKBROKER" release after-linger || fail "release after the lingering fd"
exit 0
