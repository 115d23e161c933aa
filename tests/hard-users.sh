#!/bin/bash
# SPDX-License-Identifier: ISC
# A second user against another user's entries. uid 4242 (the victim, an
# unprivileged user) owns private entries: a name, an fd and the long path
# of its "swtpm" socket in its own directory. uid 65534 (SB_NOBODY) tries
# to get, put over, release, bind/PREPARE, resolve, wait for and list them,
# through the CLI, through forged proofs (a symlink of its own pointing at
# the victim's short path, sent with the victim's key) and through the
# shim; and to bind keys root owns. Everything is refused, the victim's
# socket still answers the victim, and nothing of the victim's changed.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python "two more uids"

VICTIM="setpriv --reuid=4242 --regid=4242 --clear-groups"
export PYTHONPATH="$top_srcdir/tests"
SBP="$PY $top_srcdir/tests/sbproto.py"
SB=$SOCKBROKER
sb_start
w0=$(sb_fd_count "$SB_PID")

# the victim's directory, with a long path for its swtpm socket
vdir=$T/victim
while [ ${#vdir} -lt 150 ]; do vdir=$vdir/vvvvvvvvvvvvvvvvvvvv; done
mkdir -p "$vdir"
chown -R 4242:4242 "$T/victim"
chmod -R 755 "$T/victim"
VKEY=$vdir/swtpm-ctrl.sock	# bound by the victim
VKEY2=$vdir/qmp.sock		# not bound yet
ndir=$T/nobody
mkdir "$ndir"
chown 65534:65534 "$ndir"

$VICTIM "$SB" bind victim-private --listen --mode 0600 >/dev/null || fail "victim bind name"
$VICTIM "$SB" put victim-fd --fd 0 </dev/null || fail "victim put"
vsp=$($VICTIM "$SB" bind "$VKEY" --listen --lifetime hold) || fail "victim bind long path"
[ -L "$VKEY" ] && [ "$(stat -c %u "$VKEY")" = 4242 ] || fail "the victim's link at $VKEY"
sb_log "victim's short path: $vsp"
before=$($SB list --json)

nobody() { $SB_NOBODY "$@"; }
refused() {	# refused WHAT CMD...: exit 1 (refused by the broker)
	local what=$1 rc
	shift
	nobody "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = 1 ] || fail "nobody: $what: exit $rc, want 1 (refused): $(cat "$T/out" "$T/err")"
	sb_log "refused: $what: $(cat "$T/err")"
}

# --- the CLI and the library --------------------------------------------
for k in victim-private victim-fd "$VKEY"; do
	refused "get $k" "$SB" get "$k"
	refused "release $k" "$SB" release "$k"
	refused "resolve $k" "$SB" resolve "$k"
	# a stranger's wait ends as the wait for a key no one bound (exit 2)
	nobody "$SB" wait "$k" --timeout 1 >"$T/out" 2>"$T/err"
	assert_eq "$?" 2 "nobody: wait $k: $(cat "$T/err")"
	grep -q "did not appear" "$T/err" || fail "wait $k: not as for an absent key: $(cat "$T/err")"
done
refused "put over victim-private" "$SB" put victim-private --fd 0
refused "put over victim-fd" "$SB" put victim-fd --fd 0
refused "bind victim-private" "$SB" bind victim-private --listen
assert_contains "$(cat "$T/err")" "the key is taken" "bind over the victim's name"
case "$(cat "$T/err")" in *4242*) fail "a stranger learns the owner: $(cat "$T/err")" ;; esac
nobody "$SB" bind "$VKEY" --listen >"$T/out" 2>"$T/err" && fail "nobody claimed $VKEY"
assert_contains "$(cat "$T/err")" "$VKEY" "the refusal names the path"
nobody "$SB" bind "$VKEY2" --listen >"$T/out" 2>"$T/err" && fail "nobody claimed $VKEY2"
list=$(nobody "$SB" list --json) || fail "nobody list"
case "$list" in *victim*) fail "nobody sees the victim's entries: $list" ;; esac
# the raw protocol: the same with every option a client can set
for args in "bind key=victim-private flags=2" "bind key=victim-private flags=4" \
    "bind key=victim-private flags=1 mode=0777" "put key=victim-fd --fd 0" \
    "release key=victim-fd" "get key=victim-fd"; do
	out=$(nobody $SBP $args) && fail "nobody: $args was allowed: $out"
	# a stranger is told "no such entry" (bind and put: the key is taken)
	case $args in *flags=4|release*|get*) want=ENOENT ;; *) want=EACCES ;; esac
	assert_contains "$out" "($want)" "nobody: $args"
done
[ -z "$(nobody $SBP list | grep victim)" ] || fail "the raw list shows the victim's entries"
sb_log "the CLI and the raw protocol: every request on the victim's entries refused"

# --- forged proofs --------------------------------------------------------
# a symlink of nobody's own, pointing at the victim's short path, sent
# with the victim's key (and with a key nobody has not bound yet)
nobody $PY "$top_srcdir/tests/hard-users-forged.py" "$VKEY" "$VKEY2" "$ndir" || fail "forged proofs"

# --- the shim ---------------------------------------------------------------
if [ -f "$SB_SHIM" ]; then
	for k in "$VKEY" "$VKEY2"; do
		nobody env LD_PRELOAD="$SB_SHIM" SOCKBROKER_MODE=broker \
			"$top_builddir/tests/shim-prog" serve "$k" >"$T/out" 2>"$T/err" &&
			fail "nobody served $k through the shim"
		sb_log "shim as nobody on $k: $(tr '\n' ' ' <"$T/err")"
		grep -q "^ready" "$T/out" && fail "nobody listened at $k through the shim"
	done
else
	sb_log "the shim is not built: its part skipped"
fi

# --- keys root owns -------------------------------------------------------
$SB bind root-owned --listen >/dev/null || fail "root bind"
shared=$T/shared
mkdir -m 0777 "$shared"		# nobody may replace root's link here
rkey=$shared/root.sock
$SB bind "$rkey" --listen --lifetime hold >/dev/null || fail "root bind $rkey"
for f in 0 1 2; do
	out=$(nobody $SBP bind key=root-owned flags=$f) && fail "nobody bound root-owned: $out"
	assert_contains "$out" "the key is taken" "bind flags $f of root's name"
done
# with a valid proof of its own at the path (its link replaced root's, as
# the kernel lets it in a directory it may write without a sticky bit):
# a claim of its own, at a short path of its own; root's entry stays root's
rsp=$(readlink "$rkey")
nobody $PY "$top_srcdir/tests/hard-users-rootkey.py" "$rkey" "$rsp" || fail "root's path key"
out=$($SB list --json | $PY -c '
import json, sys
for e in json.load(sys.stdin):
    if e["key"] == "root-owned" or (e["key"] == sys.argv[1] and e["short_path"] == sys.argv[2]):
        print(e["uid"])' "$rkey" "$rsp" | sort -u)
assert_eq "$out" 0 "root's entries are still root's"

# --- nothing of the victim's changed; its socket answers the victim -------
after=$($SB list --json)
for k in victim-private victim-fd "$VKEY"; do
	b=$(printf '%s' "$before" | $PY -c 'import json,sys; print([{x: e[x] for x in e if x != "age"} for e in json.load(sys.stdin) if e["key"]==sys.argv[1]])' "$k")
	a=$(printf '%s' "$after" | $PY -c 'import json,sys; print([{x: e[x] for x in e if x != "age"} for e in json.load(sys.stdin) if e["key"]==sys.argv[1]])' "$k")
	assert_eq "$a" "$b" "the victim's entry $k"
done
[ "$(stat -c %u "$VKEY")" = 4242 ] && [ "$(readlink "$VKEY")" = "$vsp" ] ||
	fail "the victim's link at $VKEY changed"
nobody $PY -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$vsp" 2>/dev/null &&
	fail "nobody connected to the victim's private socket"
$VICTIM "$SB" get "$VKEY" -- $PY -c '
import os, socket, sys
srv = socket.socket(fileno=3)
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); a, _ = srv.accept()
c.sendall(b"mine"); assert a.recv(4) == b"mine"' "$vsp" || fail "the victim's socket does not answer the victim"
$VICTIM "$SB" bind "$VKEY2" --listen --lifetime hold >/dev/null || fail "the victim cannot bind $VKEY2 after the attacks"
for k in victim-private victim-fd "$VKEY" "$VKEY2"; do
	$VICTIM "$SB" release "$k" || fail "the victim releases $k"
done
$SB release root-owned && $SB release "$rkey" || fail "root releases its entries"
sb_wait_fds "$w0" || fail "broker fds $(sb_fd_count "$SB_PID"), $w0 before"
sb_stop
