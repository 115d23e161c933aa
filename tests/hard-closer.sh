#!/bin/bash
# SPDX-License-Identifier: ISC
# uid 65534 gives the broker TCP sockets whose last close blocks (lingering
# for an hour with a full send buffer) and releases them: its closes hang,
# and must cost only uid 65534. Root's 300 fds put and released after it
# are all closed (the broker's fd count comes back), and uid 65534 cannot
# pile up more than the per-uid bound of fds waiting to be closed: it is
# refused with EAGAIN and the broker's fds stay bounded.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
export PYTHONPATH="$top_srcdir/tests"
sb_start
base=$(sb_fd_count "$SB_PID")

cat >"$T/linger.py" <<'PY'
import errno, os, socket, struct, sys
from sbproto import *

def lingering():
    """A TCP socket whose last close blocks: a full send buffer, SO_LINGER 1 h."""
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
    return c, a, l

keep = []
c = Client()
for i in range(2):
    s, a, l = lingering()
    keep += [a, l]
    assert c.call("put", fds=[s.fileno()], key="linger%d" % i, has_fd=1)[0] == "ok"
    s.close()                       # the broker's copy is the last one
    assert c.call("release", key="linger%d" % i)[0] == "ok"
print("stuck", flush=True)
sys.stdin.readline()
# more fds while its closes hang: refused once the bound is reached
r, w = os.pipe()
refused = None
for i in range(200):
    c = Client()
    try:
        c.send("put", fds=[r], key="more%d" % i, has_fd=1)
    except (ConnectionResetError, BrokenPipeError):
        pass                        # refused at connect and closed: its ERROR waits
    try:
        t, _, f, _ = c.recv()       # a refused connection's ERROR has id 0
        if t == "ok":
            c.send("release", key="more%d" % i)
            t, _, f, _ = c.recv()
    except (ConnectionResetError, BrokenPipeError):
        c.close()
        continue
    c.close()
    if t is None:                   # closed with no reply
        continue
    if t != "ok":
        refused = f
        break
assert refused is not None, "200 fds queued behind a hung close, none refused"
assert refused["errno"] == errno.EAGAIN and "could not close yet" in refused["message"], refused
print("refused", i, flush=True)
sys.stdin.read()
PY
coproc LINGER { $SB_NOBODY $PY "$T/linger.py" 2>&1; }
sb_bg $LINGER_PID
read -r -t 20 line <&"${LINGER[0]}" || fail "the lingering client did not start"
assert_eq "$line" stuck "the lingering client"

# root's fds are closed all the same
$PY - <<'PY' || fail "root's puts and releases"
import os
from sbproto import *
c = Client()
r, w = os.pipe()
for i in range(300):
    assert c.call("put", fds=[w], key="root%d" % i, has_fd=1)[0] == "ok"
    assert c.call("release", key="root%d" % i)[0] == "ok"
PY
sb_wait_for sh -c "[ \$(ls /proc/$SB_PID/fd | wc -l) -le $((base + 4)) ]" ||
	fail "root's fds are not closed behind uid 65534's hung close: $(sb_fd_count "$SB_PID") fds, $base before"
sb_log "root's 300 fds closed: $(sb_fd_count "$SB_PID") fds, $base at start"

echo go >&"${LINGER[1]}"
read -r -t 60 word n <&"${LINGER[0]}" || fail "uid 65534's flood did not end"
assert_eq "$word" refused "uid 65534's fds beyond the bound"
sb_log "uid 65534 refused after $n more fds"
now=$(sb_fd_count "$SB_PID")
[ "$now" -le $((base + 64 + 8)) ] || fail "the broker holds $now fds, $base at start: not bounded"
timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stopped answering"
"$SOCKBROKER" bind after --listen >/dev/null || fail "root's bind after the flood"
exit 0
