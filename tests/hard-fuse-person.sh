#!/bin/bash
# SPDX-License-Identifier: ISC
# A stuck proof costs its person, not its uid only: uid 100000, a
# subordinate uid of uid 4242 (a --subuid file), sends a proof on a FUSE
# mount whose getattr hangs and gets ETIMEDOUT; then uid 100001, another
# uid of the same person, is refused a proof at once (EAGAIN), while uid
# 5000, another person, has its path bind checked and granted.
. "$top_srcdir/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip "mounting FUSE needs root here"
[ -c /dev/fuse ] || skip "no /dev/fuse"
PY3=/usr/bin/python3
[ -x "$PY3" ] && "$PY3" -c 'import fuse' 2>/dev/null || skip "python3-fuse is not installed"
need setpriv
printf '4242:100000:65536\n' >"$T/subuid"
chmod 755 "$T"
sb_start --subuid "$T/subuid"
export PYTHONPATH="$top_srcdir/tests"

M="$T/mnt"
mkdir -p "$M"
mkdir -m 0777 "$T/blk"
SP=$("$SOCKBROKER" path "$M/s") || fail "sockbroker path"
SLOWFS_TARGET="$SP" SLOWFS_BLOCK="$T/blk/block" "$PY3" "$top_srcdir/tests/hard-slowfs.py" "$M" -f \
	-o attr_timeout=0,entry_timeout=0,allow_other 2>"$T/fuse.log" &
fs=$!
trap 'kill -KILL $fs 2>/dev/null; umount -l "$M" 2>/dev/null; _sb_cleanup' EXIT
sb_wait_for test -L "$M/s" || fail "the FUSE file system did not come up: $(cat "$T/fuse.log")"

uid_cmd() { echo "setpriv --reuid=$1 --regid=$1 --clear-groups"; }
# uid 100001 takes its proof fd first, while the mount still answers
coproc B { timeout 60 $(uid_cmd 100001) "$PY3" "$top_srcdir/tests/hard-fuse-person-proof.py" "$M" - 2>&1; }
sb_bg $B_PID
read -r -t 20 line <&"${B[0]}" || fail "uid 100001's client did not start"
assert_eq "$line" ready "uid 100001's client"
out=$(timeout 30 $(uid_cmd 100000) "$PY3" "$top_srcdir/tests/hard-fuse-person-proof.py" "$M" "$T/blk/block") || fail "uid 100000's proof"
assert_eq "$out" "error 110" "uid 100000: ETIMEDOUT at the deadline"
echo go >&"${B[1]}"
read -r -t 20 out <&"${B[0]}" || fail "uid 100001's proof got no answer"
assert_eq "$out" "error 11" "uid 100001, the same person: EAGAIN while the check is stuck"

# another person: a path of its own is checked and granted
U="$T/other/$(printf 'u%.0s' $(seq 1 130))"
mkdir -p "$U"
chown -R 5000:5000 "$T/other"
short=$(timeout 20 $(uid_cmd 5000) env LD_LIBRARY_PATH="$LD_LIBRARY_PATH" SOCKBROKER_ROOT="$ROOT" \
	"$SOCKBROKER" bind "$U/fine.sock" --listen) || fail "another person's path bind"
[ -S "$short" ] || fail "no socket at $short"
exit 0
