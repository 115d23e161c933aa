#!/bin/bash
# SPDX-License-Identifier: ISC
# Proofs in the caller's view, off the event loop (as root, with a second
# and a third uid):
# 1. A service (uid 4242) in its own mount namespace with a private /tmp
#    (systemd's PrivateTmp=) claims a long path that uid 65534 claimed
#    first in the host's view: both claims hold, each at its own short
#    path; clients of the service (its uid, root) in its view reach the
#    service's socket, clients in the host's view uid 65534's; a client
#    whose long path is not such a link connects nowhere.
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
# uid 65534 claims the string first, in the host's view, under the shim;
# then the service (uid 4242) binds the same string in its own view. Both
# binds work, each claim has its own short path, and every client reaches
# the socket of its own view's claim (root and the owner alike).
export SOCKBROKER_MODE=broker
SHIMMED="env LD_PRELOAD=$SB_SHIM"
need socat
mkdir -m 1777 "$T/tmp"
sub=$(printf 'p%.0s' $(seq 1 60))/$(printf 'q%.0s' $(seq 1 60))
KEY=$T/tmp/$sub/svc.sock
SP=$("$SB" path "$KEY") || fail "sockbroker path"
mkdir -p "$T/tmp/$sub"
chown 65534:65534 "$T/tmp/$sub" "$(dirname "$T/tmp/$sub")"
$SB_NOBODY $SHIMMED socat UNIX-LISTEN:"$KEY",fork SYSTEM:'echo nobody' 2>"$T/nobody.err" &
sb_bg $!
sb_wait_for test -L "$KEY" || fail "uid 65534's bind in the host's view: $(cat "$T/nobody.err")"
assert_eq "$(readlink "$KEY")" "$SP" "uid 65534's link: the key's first short path"

cat >"$T/service.sh" <<EOF2
set -e
mount -t tmpfs -o mode=1777 private "$T/tmp"
mkdir -p "$T/tmp/$sub"
chown 4242:4242 "$T/tmp/$sub" "\$(dirname "$T/tmp/$sub")"
$SVC $SHIMMED socat UNIX-LISTEN:"$KEY",fork SYSTEM:'echo service' 2>"$T/svc.err" &
srv=\$!
n=0
until [ -L "$KEY" ] && [ -S "\$(readlink "$KEY")" ]; do
	kill -0 \$srv 2>/dev/null || { echo "the service's bind failed: \$(cat "$T/svc.err")"; exit 1; }
	n=\$((n + 1)); [ \$n -lt 400 ] || { echo "the service never bound"; exit 1; }
	sleep 0.05
done
echo "link \$(readlink "$KEY")"
# a client of the service, in its view: the service's uid, then root
for who in "$SVC" ""; do
	n=0
	until out=\$(\$who $SHIMMED socat -u UNIX-CONNECT:"$KEY" - 2>>"$T/svc-client.err") &&
	    [ -n "\$out" ]; do
		n=\$((n + 1)); [ \$n -lt 400 ] || { echo "no answer: \$(cat "$T/svc-client.err")"; exit 1; }
		sleep 0.05
	done
	echo "got \$out"
done
read -r go
kill \$srv
EOF2
coproc SVCP { unshare -m --propagation private bash "$T/service.sh" 2>&1; }
svcpid=$SVCP_PID		# bash unsets SVCP_PID once the coprocess is reaped
sb_bg $svcpid
read -r -t 30 line <&"${SVCP[0]}" || fail "the service did not start"
case $line in
"link $ROOT/"*/sock) ;;
*) fail "the service's bind of its own long path in its own view: $line" ;;
esac
[ "$line" = "link $SP" ] && fail "the service's link names uid 65534's short path"
VSP=${line#link }
[ -e "$VSP" ] || fail "the service's short path $VSP does not exist"
read -r -t 30 line <&"${SVCP[0]}" || fail "the service's client got nothing"
assert_eq "$line" "got service" "the service's client (uid 4242) reaches the service's socket"
read -r -t 30 line <&"${SVCP[0]}" || fail "root's client in the service's view got nothing"
assert_eq "$line" "got service" "root's client in the service's view reaches the service"
[ "$(readlink "$KEY")" = "$SP" ] || fail "the host's link changed"
# the other uid's client, and root's, in the host's view: uid 65534's socket
out=$($SB_NOBODY $SHIMMED socat -u UNIX-CONNECT:"$KEY" - 2>"$T/err") || fail "uid 65534's client: $(cat "$T/err")"
assert_eq "$out" nobody "uid 65534's client reaches uid 65534's socket"
out=$($SHIMMED socat -u UNIX-CONNECT:"$KEY" - 2>"$T/err") || fail "root's client: $(cat "$T/err")"
assert_eq "$out" nobody "root's client in the host's view reaches uid 65534's socket"
# both claims are entries of their own
n=$("$SB" list 2>/dev/null | grep -c "/svc.sock ") || true
[ "$n" = 2 ] || fail "two entries of the key expected, $n listed: $("$SB" list 2>&1)"
echo go >&"${SVCP[1]}"
wait "$svcpid" 2>/dev/null || true	# it said all it had to say above
# a client in a view whose long path is no link goes nowhere
mkdir -p "$T/tmp2"
out=$(unshare -m --propagation private bash -c 'mount -t tmpfs t "$1" && mkdir -p "$2" &&
	: >"$3" && exec env LD_PRELOAD="$4" socat -u UNIX-CONNECT:"$3" - 2>&1' _ "$T/tmp" \
	"$T/tmp/$sub" "$KEY" "$SB_SHIM") && fail "a client whose long path is a plain file connected: $out"
case $out in *"Connection refused"*) ;; *) fail "no socket at the long path: $out" ;; esac

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
	"$PY" "$top_srcdir/tests/hard-views-hung.py" "$M" "$T/block" >"$T/hung.out" 2>&1 &
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
