#!/bin/bash
# SPDX-License-Identifier: ISC
# Socket activation: systemd-socket-activate holds the control socket and
# starts the broker on the first connection; the broker serves on it.
# A non-SEQPACKET socket handed as control is refused.
. "$top_srcdir/tests/lib.sh"
need systemd-socket-activate python3
export PYTHONPATH="$top_srcdir/tests"

mkdir -m 0755 "$ROOT"
systemd-socket-activate --seqpacket -l "$ROOT/control" --fdname=control \
	"$SOCKBROKERD" -v --root "$ROOT" 2>>"$T/broker.log" &
SB_PID=$!
sb_wait_for test -S "$ROOT/control" || fail "systemd-socket-activate did not listen"
python3 "$top_srcdir/tests/daemon-activation-serve.py" "$SB_PID" || fail "served on an activated socket"
grep -q "took over 1 inherited fds" "$T/broker.log" || fail "the socket was not inherited"
sb_stop
# the broker did not unlink a socket it did not make
[ -S "$ROOT/control" ] || fail "the activated control socket was removed"
rm -f "$ROOT/control"

# a stream socket is not a control socket
systemd-socket-activate -l "$ROOT/control" --fdname=control \
	"$SOCKBROKERD" --root "$ROOT" 2>"$T/wrong.log" &
pid=$!
sb_bg $pid
sb_wait_for test -S "$ROOT/control" || fail "systemd-socket-activate did not listen"
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$ROOT/control"
wait $pid
assert_eq "$?" 111 "exit status with a stream control socket"
grep -q "is not a listening SOCK_SEQPACKET socket" "$T/wrong.log" || fail "no message: $(cat "$T/wrong.log")"
exit 0
