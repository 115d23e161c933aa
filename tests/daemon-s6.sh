#!/bin/bash
# SPDX-License-Identifier: ISC
# Restart with nothing lost, s6 style (as daemon-fdstore.sh for systemd):
# the shipped service directories (s6/) under a real s6-svscan, the broker
# keeping its fds in the companion s6-fdholderd. After s6-svc -r every held
# socket is back with its short path, a client queued on a held socket
# before the restart is served after it, and a client that connects to the
# control socket while the broker is down is answered once it is up.
. "$top_srcdir/tests/lib.sh"
need python3 s6-svscan s6-svscanctl s6-svc s6-svwait s6-svstat s6-fdholder-daemon \
	s6-fdholder-list s6-softlimit

S=$T/scan
FDH=$T/fdh
mkdir "$S"
for svc in sockbrokerd sockbrokerd-fdholder; do
	cp -r "$top_srcdir/s6/$svc" "$S/"
	chmod -R u+w "$S/$svc"
	rm -f "$S/$svc/run.in"
	[ -x "$top_builddir/s6/$svc/run" ] || fail "$top_builddir/s6/$svc/run was not built"
	# the built broker, and this test's root and holder directory
	sed -e "s|^exec [^ ]*/sockbrokerd --root /run/sockbroker |exec $SOCKBROKERD --root $ROOT |" \
	    -e "s|/run/sockbrokerd-fdholder|$FDH|g" \
	    -e "s|-r [^ ]*/default/sockbrokerd|-r $T/default|; s|\. [^ ]*/default/sockbrokerd|. $T/default|" \
	    "$top_builddir/s6/$svc/run" >"$S/$svc/run"
	chmod +x "$S/$svc/run"
done
grep -q "exec $SOCKBROKERD --root $ROOT --ready-fd 3 " "$S/sockbrokerd/run" ||
	fail "the run script does not start the broker as expected: $(cat "$S/sockbrokerd/run")"
grep -q -- "--fdholder $FDH/socket" "$S/sockbrokerd/run" || fail "no --fdholder in the run script"
# options from the EnvironmentFile-like file, as with systemd
echo 'SOCKBROKERD_OPTS="-v"' >"$T/default"
uid=$(id -u)
if [ "$uid" -ne 0 ]; then	# the rules are for root, the system broker
	mv "$S/sockbrokerd-fdholder/rules/uid/0" "$S/sockbrokerd-fdholder/rules/uid/$uid"
fi

s6-svscan "$S" >>"$T/broker.log" 2>&1 &
svscan=$!
sb_bg $svscan
stop_scan() { s6-svscanctl -t "$S" 2>/dev/null; wait $svscan 2>/dev/null; }
trap 'stop_scan; _sb_cleanup' EXIT
# s6-svwait needs the supervisor's status file: wait for s6-supervise first
sb_wait_for s6-svstat "$S/sockbrokerd" || fail "s6-svscan started no supervisor"
s6-svwait -U -t 20000 "$S/sockbrokerd" || fail "sockbrokerd under s6 never became ready"
pid1=$(s6-svstat -p "$S/sockbrokerd")
SB="$SOCKBROKER"

# held sockets: names, a long path, an fd stored with put
for i in $(seq 1 20); do
	$SB bind "s6-name-$i" --listen >/dev/null || fail "bind s6-name-$i"
done
long=$(sb_long_path "s6-long.sock" 160)
sp_long=$($SB bind "$long" --listen --lifetime hold) || fail "bind the long path"
exec 7<"$T/default"
$SB put s6-fd --fd 7 || fail "put"
exec 7<&-
$SB list --json >"$T/before.json" || fail "list before"
n_before=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/before.json")
assert_eq "$n_before" 22 "entries before the restart"
s6-fdholder-list "$FDH/socket" >"$T/held" || fail "s6-fdholder-list"
assert_eq "$(grep -c "^sockbroker:$ROOT/" "$T/held")" 23 "ids in the holder (22 entries, control)"

# a client queued on a held socket before the restart
sp0=$($SB resolve s6-name-1) || fail "resolve s6-name-1"
python3 "$top_srcdir/tests/daemon-s6-client.py" "$sp0" "$T/client" >"$T/client.out" 2>&1 &
client=$!
sb_bg $client
sb_wait_for test -s "$T/client" || fail "the client never connected"

# the restart
s6-svc -r -wR -T 20000 "$S/sockbrokerd" || fail "s6-svc -r"
pid2=$(s6-svstat -p "$S/sockbrokerd")
[ "$pid2" != "$pid1" ] && [ "$pid2" -gt 0 ] || fail "the broker was not restarted ($pid1, $pid2)"
if grep -q "did not come back" "$T/broker.log"; then
	fail "entries were lost: $(grep 'did not come back' "$T/broker.log" | head -3)"
fi
$SB list --json >"$T/after.json" || fail "list after"
python3 "$top_srcdir/tests/daemon-s6-entries.py" "$T/before.json" "$T/after.json" || fail "entries after the restart"
assert_eq "$(readlink "$long")" "$sp_long" "the long path's link"
[ -S "$sp_long" ] || fail "no socket at $sp_long after the restart"
# the fd stored with put is the same file
$SB get s6-fd -- sh -c 'cat <&3' >"$T/got" || fail "get s6-fd"
cmp -s "$T/got" "$T/default" || fail "the fd stored with put is not the same file"

# the queued client is served by a server that takes the held socket
$SB get s6-name-1 -- python3 -c '
import socket
s = socket.socket(fileno=3)
c, _ = s.accept()
assert c.recv(64) == b"ping\n"
c.sendall(b"pong\n")
' || fail "the server on the held socket"
wait $client || fail "the queued client: $(cat "$T/client.out")"
assert_eq "$(cat "$T/client.out")" "pong" "the queued client's answer"

# a release leaves the holder too
$SB release s6-name-2 || fail "release"
s6-fdholder-list "$FDH/socket" >"$T/held" || fail "s6-fdholder-list"
assert_eq "$(grep -c "^sockbroker:$ROOT/" "$T/held")" 22 "ids in the holder after a release"

# a re-exec in place (SIGHUP) keeps the holder as it is
s6-svc -h "$S/sockbrokerd" || fail "s6-svc -h"
sb_wait_for grep -q "re-executed" "$T/broker.log" || fail "the broker did not re-execute"
$SB list >/dev/null || fail "list after the re-exec"
s6-fdholder-list "$FDH/socket" >"$T/held" || fail "s6-fdholder-list"
assert_eq "$(grep -c "^sockbroker:$ROOT/" "$T/held")" 22 "ids in the holder after a re-exec"
grep -q "matches no held entry" "$T/broker.log" && fail "the re-exec deleted held fds"

# a client connects while the broker is down: the held control socket
# queues it, the next broker answers it
s6-svc -d -wD -T 20000 "$S/sockbrokerd" || fail "s6-svc -d"
[ -S "$ROOT/control" ] || fail "the control socket's path went with the broker"
$SB status >"$T/status.out" 2>&1 &
st=$!
sb_bg $st
s6-svc -u -wU -T 20000 "$S/sockbrokerd" || fail "s6-svc -u"
wait $st || fail "status queued while the broker was down: $(cat "$T/status.out")"
assert_contains "$(cat "$T/status.out")" "entries: 21" "the queued status"

# a kept control socket whose path is gone (a cleaned /run) is replaced
s6-svc -d -wD -T 20000 "$S/sockbrokerd" || fail "s6-svc -d"
rm -f "$ROOT/control"
s6-svc -u -wU -T 20000 "$S/sockbrokerd" || fail "s6-svc -u"
$SB status >/dev/null || fail "no control socket after its path was removed"
s6-fdholder-list "$FDH/socket" >"$T/held" || fail "s6-fdholder-list"
assert_eq "$(grep -c "^sockbroker:$ROOT/control\$" "$T/held")" 1 "the new control socket is kept"
s6-svc -r -wR -T 20000 "$S/sockbrokerd" || fail "s6-svc -r"
$SB status >/dev/null || fail "the new control socket after a restart"
exit 0
