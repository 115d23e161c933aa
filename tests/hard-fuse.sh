#!/bin/bash
# SPDX-License-Identifier: ISC
# A path proof on a file system that does not answer (a FUSE mount whose
# getattr hangs, as a hostile user's own mount or a hung NFS server would):
# the broker refuses it within its deadline (ETIMEDOUT), refuses that uid's
# next proof at once while the check is stuck (EAGAIN), and keeps serving.
. "$top_srcdir/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "mounting FUSE needs root here"
[ -c /dev/fuse ] || skip "no /dev/fuse"
PY3=/usr/bin/python3
[ -x "$PY3" ] && "$PY3" -c 'import fuse' 2>/dev/null || skip "python3-fuse is not installed"
sb_start

M="$T/mnt"
mkdir -p "$M"
SP=$("$SOCKBROKER" path "$M/s") || fail "sockbroker path"
SLOWFS_TARGET="$SP" SLOWFS_BLOCK="$T/block" "$PY3" "$top_srcdir/tests/hard-slowfs.py" "$M" -f \
	-o attr_timeout=0,entry_timeout=0 2>"$T/fuse.log" &
fs=$!
unmount() { kill -KILL $fs 2>/dev/null; umount -l "$M" 2>/dev/null; }
trap 'unmount; _sb_cleanup' EXIT
sb_wait_for test -L "$M/s" || fail "the FUSE file system did not come up: $(cat "$T/fuse.log")"

timeout 60 "$PY3" "$top_srcdir/tests/hard-fuse-client.py" "$ROOT" "$top_srcdir/tests" "$M" "$T/block" >"$T/out" 2>&1 ||
	fail "the stuck proof: $(cat "$T/out")"
assert_eq "$(cat "$T/out")" ok "the stuck proof"

# everyone else is served, another uid's path binds too
timeout 20 "$SOCKBROKER" status >/dev/null || fail "status while a proof is stuck"
chmod 755 "$T"
U="$T/nobody/$(printf 'u%.0s' $(seq 1 130))"
mkdir -p "$U"
chown -R 65534:65534 "$T/nobody"
short=$(timeout 20 $SB_NOBODY env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" SOCKBROKER_ROOT="$ROOT" \
	"$SOCKBROKER" bind "$U/fine.sock" --listen) ||
	fail "another uid's path bind while a proof is stuck"
[ -S "$short" ] || fail "no socket at $short"

# the file system goes away: the stuck check ends, the uid may try again
unmount
sb_wait_for eval "! grep -q ' $M ' /proc/mounts" || fail "the FUSE mount did not go"
timeout 20 "$SOCKBROKER" status >/dev/null || fail "status after the mount went"
exit 0
