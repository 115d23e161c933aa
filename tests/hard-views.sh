#!/bin/bash
# SPDX-License-Identifier: ISC
# Proofs in the caller's view, off the event loop (as root, with a second
# and a third uid):
# 1. A service (uid 4242) in its own mount namespace with a private /tmp
#    (systemd's PrivateTmp=) claims a long path that exists only in its
#    view; uid 65534, in the host's view of the same string, cannot claim
#    it; a client of the service reaches the service's socket.
# 2. While uid 65534's proof hangs in its own FUSE file system, root's
#    requests are answered at once, before that proof's deadline: the
#    check never holds up the event loop.
. "$top_srcdir/tests/lib.sh"
need python3 setpriv unshare mount
[ "$(id -u)" = 0 ] || skip "needs root (mount namespaces, other uids)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
unshare -m true 2>/dev/null || skip "cannot make a mount namespace here"
sb_start
SB=$SOCKBROKER
SVC="setpriv --reuid=4242 --regid=4242 --clear-groups"
export PYTHONPATH="$top_srcdir/tests"

# --- 1. a private /tmp ----------------------------------------------------
mkdir -m 1777 "$T/tmp"
sub=$(printf 'p%.0s' $(seq 1 60))/$(printf 'q%.0s' $(seq 1 60))
KEY=$T/tmp/$sub/svc.sock
SP=$("$SB" path "$KEY") || fail "sockbroker path"
cat >"$T/service.sh" <<EOF2
set -e
mount -t tmpfs -o mode=1777 private "$T/tmp"
mkdir -p "$T/tmp/$sub"
chown 4242:4242 "$T/tmp/$sub" "\$(dirname "$T/tmp/$sub")"
$SVC "$SB" bind "$KEY" --listen --lifetime hold >"$T/svc.out" 2>"$T/svc.err" || { cat "$T/svc.err"; exit 1; }
[ -L "$KEY" ] || { echo "no link at the long path in the service's view"; exit 1; }
echo bound
read -r go
# the service serves one client; its client, in the same view, connects
$SVC "$SB" get "$KEY" -- $PY -c '
import socket
s = socket.socket(fileno=3)
a, _ = s.accept()
a.sendall(b"service")' &
$SVC $PY -c '
import socket, sys
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
print(c.recv(64).decode())' "$SP"
wait
EOF2
coproc SVCP { unshare -m --propagation private sh "$T/service.sh" 2>&1; }
sb_bg $SVCP_PID
read -r -t 20 line <&"${SVCP[0]}" || fail "the service did not start"
assert_eq "$line" bound "the service's bind of its own long path in its own view"
[ -e "$KEY" ] && fail "the service's private path is visible in the host's view"

# uid 65534 makes the same path in the host's view and claims it
mkdir -p "$T/tmp/$sub"
chown 65534:65534 "$T/tmp/$sub" "$(dirname "$T/tmp/$sub")"
$SB_NOBODY "$SB" bind "$KEY" --listen >"$T/out" 2>"$T/err" &&
	fail "uid 65534 claimed the service's key from another view: $(cat "$T/out")"
sb_log "uid 65534 in the host's view: $(cat "$T/err")"
echo go >&"${SVCP[1]}"
read -r -t 20 line <&"${SVCP[0]}" || fail "the service's client got nothing"
assert_eq "$line" service "the service's client reaches the service's socket"
"$SB" release "$KEY" || fail "release the service's key"

# --- 2. a hung proof does not hold up the event loop ----------------------
if [ -c /dev/fuse ] && "$PY" -c 'import fuse' 2>/dev/null; then
	M="$T/mnt"
	mkdir -p "$M"
	MSP=$("$SB" path "$M/s") || fail "sockbroker path"
	SLOWFS_TARGET="$MSP" SLOWFS_BLOCK="$T/block" "$PY" "$top_srcdir/tests/hard-slowfs.py" \
		"$M" -f -o attr_timeout=0,entry_timeout=0,allow_other 2>"$T/fuse.log" &
	fs=$!
	trap 'kill -KILL $fs 2>/dev/null; umount -l "$M" 2>/dev/null; _sb_cleanup' EXIT
	sb_wait_for test -L "$M/s" || fail "the FUSE file system did not come up: $(cat "$T/fuse.log")"
	cat >"$T/hung.py" <<'PY'
import os, sys
from sbproto import *
mnt, block = sys.argv[1:3]
fd = os.open(mnt + "/s", os.O_PATH | os.O_NOFOLLOW)
c = Client(timeout=30)
open(block, "w").close()          # from now on, stat of /s hangs
t, _, f, _ = c.call("bind", fds=[fd], key=mnt + "/s", proof=1, has_fd=1, flags=1)
print("reply", t, f.get("errno"), flush=True)
PY
	"$PY" "$T/hung.py" "$M" "$T/block" >"$T/hung.out" 2>&1 &
	hung=$!
	sb_wait_for test -e "$T/block.hit" || fail "the proof check never reached the FUSE mount"
	# the check is stuck in the FUSE mount now, its deadline not passed
	timeout 20 "$SB" status >/dev/null || fail "status while a proof hangs"
	"$SB" bind during-proof --listen >/dev/null || fail "bind while a proof hangs"
	[ -s "$T/hung.out" ] && fail "root was answered only after the hung proof: $(cat "$T/hung.out")"
	wait $hung
	assert_eq "$(cat "$T/hung.out")" "reply error 110" "the hung proof: ETIMEDOUT at its deadline"
else
	sb_log "no FUSE (python3-fuse, /dev/fuse): part 2 skipped"
fi
exit 0
