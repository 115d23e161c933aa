#!/bin/bash
# SPDX-License-Identifier: ISC
# uid 65534 mounts its own FUSE file system (fusermount) on the directory
# of an entry it prepared, a file system whose every getattr hangs, and
# releases the entry: the release is answered, root is served, the mount is
# detached and the directory removed off the event loop, and the key can be
# bound again. The same mounted where its socket should be: its BOUND is
# refused at once, the broker never looks into the mount.
. "$top_srcdir/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a second uid)"
[ -c /dev/fuse ] || skip "no /dev/fuse"
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import fuse' 2>/dev/null || skip "python3-fuse is not installed"
command -v fusermount >/dev/null || command -v fusermount3 >/dev/null || skip "no fusermount"
export PYTHONPATH="$top_srcdir/tests"
sb_start
SB=$SOCKBROKER
chmod 755 "$T"

$SB_NOBODY $PY -c '
from sbproto import *
t, i, f, fds = Client().call("bind", key="fused", flags=PREPARE)
assert t == "ok", f
print(f["short_path"])' >"$T/sp" || fail "nobody prepare"
d=$(dirname "$(cat "$T/sp")")
[ "$(stat -c %u "$d")" = 65534 ] || fail "the prepared directory is not nobody's"
touch "$T/block"; chmod 644 "$T/block"
$SB_NOBODY env SLOWFS_TARGET=/nowhere SLOWFS_BLOCK="$T/block" "$PY" \
	"$top_srcdir/tests/hard-slowfs.py" "$d" -f -o attr_timeout=0,entry_timeout=0 \
	2>"$T/fuse.log" &
fs=$!
trap 'kill -KILL $fs 2>/dev/null; umount -l "$d" 2>/dev/null; _sb_cleanup' EXIT
sb_wait_for grep -q " $d " /proc/mounts || skip "nobody could not mount FUSE: $(cat "$T/fuse.log")"
sb_log "uid 65534 mounted a hanging FUSE file system on $d"

timeout 20 $SB_NOBODY "$SB" release fused || fail "the release of an entry with a mount on its directory"
timeout 20 "$SB" status >/dev/null || fail "root is not served"
sb_wait_for sh -c "! grep -q ' $d ' /proc/mounts" || fail "the client's mount on $d was not detached"
timeout 20 "$SB" bind fused --listen >/dev/null || fail "the key cannot be bound again"
[ "$(stat -c %u "$d")" = 0 ] && [ -S "$d/sock" ] || fail "no fresh directory of the broker's"
timeout 20 "$SB" release fused || fail "release"
sb_wait_for test ! -e "$d" || fail "the directory is left"

# a mount where the socket should be, then BOUND
$SB_NOBODY $PY -c '
from sbproto import *
t, i, f, fds = Client().call("bind", key="fused2", flags=PREPARE)
assert t == "ok", f
print(f["short_path"])' >"$T/sp2" || fail "nobody prepare fused2"
s2=$(cat "$T/sp2")
$SB_NOBODY mkdir "$s2" || fail "nobody mkdir $s2"
$SB_NOBODY env SLOWFS_TARGET=/nowhere SLOWFS_BLOCK="$T/block" "$PY" \
	"$top_srcdir/tests/hard-slowfs.py" "$s2" -f -o attr_timeout=0,entry_timeout=0 \
	2>"$T/fuse2.log" &
fs2=$!
trap 'kill -KILL $fs $fs2 2>/dev/null; umount -l "$s2" 2>/dev/null; _sb_cleanup' EXIT
sb_wait_for grep -q " $s2 " /proc/mounts || fail "nobody could not mount FUSE on $s2"
out=$(timeout 20 $SB_NOBODY $PY -c '
from sbproto import *
t, i, f, fds = Client().call("bind", key="fused2", flags=BOUND)
print(t, f.get("errno"))') || fail "BOUND with a mount at the socket's place hung"
assert_eq "$out" "error 2" "BOUND with a mount at the socket's place: ENOENT"
timeout 20 "$SB" status >/dev/null || fail "root is not served"
timeout 20 $SB_NOBODY "$SB" release fused2 || fail "release fused2"
sb_wait_for sh -c "! grep -q ' $s2 ' /proc/mounts" || fail "the mount at $s2 was not detached"
exit 0
