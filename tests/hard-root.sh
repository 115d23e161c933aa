#!/bin/bash
# SPDX-License-Identifier: ISC
# Symlink and race attacks on the root: directories, files and symlinks
# pre-created where the broker makes its own (ROOT/XX, ROOT/XX/HASH,
# ROOT/XX/HASH/sock, ROOT/state.tmp, ROOT/state, ROOT/control), pointing
# outside the root; and a user who swaps what is in its own entry
# directory (its socket for a symlink to a file or a directory outside, a
# directory of symlinks) before a release or a new bind. The broker
# refuses or removes the link itself, never follows it: nothing outside
# the root is created, chmod'ed, chown'ed or unlinked. (A root owned by
# another uid, writable by others or a symlink: daemon-root.sh.)
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python "files of another uid"
export PYTHONPATH="$top_srcdir/tests"
SB=$SOCKBROKER

# What must not change: a directory with a file, a subdirectory and a
# socket of root's, and the files of the state a link could aim at.
out=$T/outside
mkdir -p "$out/sub"
echo precious >"$out/precious"
chmod 0640 "$out/precious"
chmod 0750 "$out/sub"
$PY -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$out/victim.sock"
snap() { (cd "$out" && find . -printf '%p %m %u %g %s %y %l\n' | sort; cat precious); }
snap >"$T/snap.before"
untouched() {	# untouched WHAT
	snap >"$T/snap.after"
	cmp -s "$T/snap.before" "$T/snap.after" ||
		fail "$1: something outside the root changed: $(diff "$T/snap.before" "$T/snap.after")"
}
sp() { $PY -c 'import sbproto,sys; print(sbproto.short_path(sys.argv[1], sys.argv[2]))' "$ROOT" "$1"; }
xx_of() { local p; p=$(sp "$1"); p=${p#"$ROOT"/}; printf '%s\n' "${p%%/*}"; }
hash_of() { local p; p=$(sp "$1"); p=${p#"$ROOT"/*/}; printf '%s\n' "${p%/sock}"; }
refused() {	# refused KEY WHAT NEEDLE: a bind of KEY is refused
	local o
	o=$($SB bind "$1" --listen 2>&1) && fail "$2: bind $1 was allowed: $o"
	assert_contains "$o" "$3" "$2"
	sb_log "$2: $o"
}

sb_start
w0=$(sb_fd_count "$SB_PID")

# --- ROOT/XX --------------------------------------------------------------
k=pre-xx
xx=$(xx_of $k)
ln -s "$out" "$ROOT/$xx"
refused $k "ROOT/XX a symlink to a directory outside" "is not a directory of the broker"
rm "$ROOT/$xx"
ln -s "$out/precious" "$ROOT/$xx"
refused $k "ROOT/XX a symlink to a file outside" "is not a directory of the broker"
rm "$ROOT/$xx"
mkdir "$ROOT/$xx"; chown 65534 "$ROOT/$xx"
refused $k "ROOT/XX owned by another uid" "not owned by the broker"
[ "$(stat -c %u "$ROOT/$xx")" = 65534 ] || fail "ROOT/XX was chown'ed"
chown 0 "$ROOT/$xx"; chmod 0777 "$ROOT/$xx"
refused $k "ROOT/XX writable by others" "writable by others"
[ "$(stat -c %a "$ROOT/$xx")" = 777 ] || fail "ROOT/XX was chmod'ed"
rmdir "$ROOT/$xx"
$SB bind $k --listen >/dev/null || fail "bind $k once ROOT/XX is gone"
$SB release $k || fail "release $k"
untouched "ROOT/XX"

# --- ROOT/XX/HASH ---------------------------------------------------------
k=pre-hash
xx=$(xx_of $k); h=$(hash_of $k)
mkdir -p "$ROOT/$xx"; chmod 755 "$ROOT/$xx"
# whatever is at ROOT/XX/HASH is moved to the trash, never followed; the
# bind gets a fresh directory of its own
for planted in "ln -s $out" "ln -s $out/sub" touch; do
	$planted "$ROOT/$xx/$h"
	$SB bind $k --listen >/dev/null || fail "bind $k over $planted at ROOT/XX/HASH"
	[ -d "$ROOT/$xx/$h" ] && [ ! -L "$ROOT/$xx/$h" ] && [ -S "$ROOT/$xx/$h/sock" ] ||
		fail "no fresh directory after $planted"
	$SB release $k || fail "release $k"
	untouched "ROOT/XX/HASH ($planted)"
done
# a stale directory of another uid holding links out: taken back, emptied
# (the links removed, never followed)
mkdir "$ROOT/$xx/$h"
ln -s "$out/precious" "$ROOT/$xx/$h/sock"
ln -s "$out" "$ROOT/$xx/$h/dir"
mkdir "$ROOT/$xx/$h/deeper"
ln -s "$out/sub" "$ROOT/$xx/$h/deeper/sub"
chown -R 65534 "$ROOT/$xx/$h"
$SB bind $k --listen >/dev/null || fail "bind $k over a stale directory"
[ -S "$ROOT/$xx/$h/sock" ] || fail "no socket in the retaken directory"
[ "$(ls -A "$ROOT/$xx/$h")" = sock ] || fail "the retaken directory was not emptied: $(ls -A "$ROOT/$xx/$h")"
$SB release $k || fail "release $k"
[ -e "$ROOT/$xx/$h" ] && fail "the entry directory is left after release"
untouched "ROOT/XX/HASH"

# --- ROOT/XX/HASH/sock ----------------------------------------------------
k=pre-sock
xx=$(xx_of $k); h=$(hash_of $k)
mkdir -p "$ROOT/$xx/$h"
for target in "$out/precious" "$out" "$out/victim.sock" "$out/new-file"; do
	ln -sfn "$target" "$ROOT/$xx/$h/sock"
	$SB bind $k --listen >/dev/null || fail "bind $k over a sock linked to $target"
	[ -S "$ROOT/$xx/$h/sock" ] && [ ! -L "$ROOT/$xx/$h/sock" ] || fail "sock is not the broker's socket"
	$SB release $k || fail "release $k"
	mkdir -p "$ROOT/$xx/$h"
done
rmdir "$ROOT/$xx/$h"
untouched "ROOT/XX/HASH/sock"

# --- ROOT/state.tmp, ROOT/state, ROOT/control -----------------------------
sb_stop
ln -s "$out/precious" "$ROOT/state.tmp"
sb_start
[ -L "$ROOT/state.tmp" ] && fail "ROOT/state.tmp (a symlink) is left"
sb_stop
mv "$ROOT/state" "$T/state.saved"
ln -s "$out/precious" "$ROOT/state"
o=$(timeout 10 "$SOCKBROKERD" --root "$ROOT" 2>&1 </dev/null) && fail "started with ROOT/state a symlink"
sb_log "ROOT/state a symlink: $o"
rm "$ROOT/state"; mv "$T/state.saved" "$ROOT/state"
ln -sfn "$out/victim.sock" "$ROOT/control"
o=$(timeout 10 "$SOCKBROKERD" --root "$ROOT" 2>&1 </dev/null) && fail "started with ROOT/control a symlink"
assert_contains "$o" "is not a socket" "ROOT/control a symlink"
rm "$ROOT/control"
untouched "ROOT/state.tmp, ROOT/state, ROOT/control"

# --- a user swaps what is in its own entry directory ----------------------
sb_start
w0=$(sb_fd_count "$SB_PID")
nobody() { $SB_NOBODY "$@"; }
n=0
for swap in link-file link-dir link-socket dir-of-links deep; do
	n=$((n + 1))
	k=swap-$n
	# a bound entry's directory is the broker's: nobody cannot write there
	s=$(nobody "$SB" bind $k --listen --mode 0600) || fail "nobody bind $k"
	d=${s%/sock}
	[ "$(stat -c %u "$d")" = "$(id -u)" ] || fail "the entry directory is not the broker's"
	nobody sh -c "echo x >'$d/x'" 2>/dev/null && fail "nobody wrote into its entry directory"
	nobody rm -f "$s" 2>/dev/null; [ -S "$s" ] || fail "nobody removed its socket from the directory"
	nobody "$SB" release $k || fail "nobody release $k"
	# a prepared entry's directory is the client's until BOUND (it binds
	# there itself): it plants what it likes, the release removes it all
	nobody env PYTHONPATH="$top_srcdir/tests" $PY -c '
import sys
from sbproto import *
t, i, f, fds = Client().call("bind", key=sys.argv[1], flags=PREPARE)
assert t == "ok", f' $k || fail "nobody prepare $k"
	[ "$(stat -c %u "$d")" = 65534 ] || fail "a prepared directory is not its client's"
	case $swap in
	link-file) nobody ln -s "$out/precious" "$s" ;;
	link-dir) nobody ln -s "$out" "$s" ;;
	link-socket) nobody ln -s "$out/victim.sock" "$s" ;;
	dir-of-links)
		nobody mkdir "$s" && nobody ln -s "$out/precious" "$s/x" &&
			nobody ln -s "$out" "$s/y" && nobody mkfifo "$s/fifo" ;;
	deep)
		nobody mkdir -p "$s/$(printf 'a/%.0s' $(seq 1 40))" &&
			nobody ln -s "$out/precious" "$s/a/a/a/a/l" &&
			nobody ln -s "$out" "$s/$(printf 'a/%.0s' $(seq 1 40))/deepest" ;;
	esac || fail "nobody could not plant $swap in $d"
	nobody "$SB" release $k || fail "nobody release $k ($swap)"
	sb_wait_for test ! -e "$d" || fail "$swap: the entry directory $d is left: $(find "$d" | wc -l) files"
	untouched "$swap then release"
done
# a hard link to a file of root's into its directory (protected_hardlinks)
s=$(nobody "$SB" bind hl --listen) || fail "nobody bind hl"
nobody ln "$out/precious" "${s%/sock}/hard" 2>/dev/null && sb_log "nobody could hard link precious"
nobody "$SB" release hl || fail "nobody release hl"
untouched "a hard link then release"
[ "$(cat "$out/precious")" = precious ] || fail "precious changed"
$SB status >/dev/null || fail "the broker stopped serving"
sb_wait_fds "$w0" || fail "broker fds $(sb_fd_count "$SB_PID"), $w0 before"
sb_stop
