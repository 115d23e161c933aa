#!/bin/bash
# SPDX-License-Identifier: ISC
# The journal on a tiny file system that fills up (a 256 KiB tmpfs, as
# root; skipped otherwise): a compaction that runs out of space in the
# middle (at SIGTERM, and again at the next start) leaves the old journal
# whole and the broker starts on the full file system; binds and releases
# whose record cannot be written are refused with ENOSPC, for root and for
# a second uid, and change nothing; once there is space again the broker
# says so and writes. After all of it and a kill -9, every entry that was
# acknowledged is back and the one released is not.
. "$top_srcdir/tests/lib.sh"
need python3 setpriv mount umount
[ "$(id -u)" = 0 ] || skip "needs root (mounts a tmpfs)"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
mkdir "$T/fs"
mount -t tmpfs -o size=256k,mode=0755 sbjournal "$T/fs" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'for p in $_sb_bg_pids $SB_PID; do kill -KILL "$p" 2>/dev/null; done; wait 2>/dev/null; umount -l "$T/fs"; _sb_cleanup' EXIT
ROOT=$T/fs/root
export SOCKBROKER_ROOT=$ROOT PYTHONPATH="$top_srcdir/tests"
SB=$SOCKBROKER
sb_start

# 40 owner entries with 150-byte names (about 8 KiB of journal), kept alive
coproc OWNER { $PY "$top_srcdir/tests/hard-journal-owner.py" 2>&1; }
sb_bg $OWNER_PID
read -r -t 20 line <&"${OWNER[0]}" || fail "the owner did not bind"
assert_eq "$line" bound "the owner's binds"
count() { "$SB" list | grep -c '^e0'; }
assert_eq "$(count)" 40 "entries before"

# fill the file system but for one page: the compaction's first write fits,
# the next fails with ENOSPC in the middle of the file
dd if=/dev/zero of="$T/fs/fill" bs=4k 2>/dev/null
truncate -s -4096 "$T/fs/fill"
cp "$ROOT/state" "$T/state.before"
sb_stop
grep -q "unable to compact $ROOT/state: No space left on device" "$T/broker.log" ||
	fail "no compaction failed for lack of space"
cmp -s "$ROOT/state" "$T/state.before" || fail "a failed compaction changed the journal"
[ -e "$ROOT/state.tmp" ] && fail "a failed compaction left state.tmp"

# it starts on the full file system, with every entry
sb_start
assert_eq "$(count)" 40 "entries after a restart on a full file system"
dd if=/dev/zero of="$T/fs/fill2" bs=4k 2>/dev/null	# now really full

refused_nospc() {	# WHO CMD...
	local who=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = 1 ] || fail "$who: $*: exit $rc on a full file system: $(cat "$T/out" "$T/err")"
	assert_contains "$(cat "$T/err")" "No space left on device" "$who: $* says ENOSPC"
}
echo fill >&"${OWNER[1]}"
read -r -t 20 word acked err <&"${OWNER[0]}" || fail "the owner's binds on a full file system"
assert_eq "$word $err" "acked 28" "binds on a full file system end with ENOSPC ($acked acknowledged)"
sb_log "$acked binds fitted in the journal's last page"
refused_nospc root "$SB" bind newkey --lifetime owner
refused_nospc root "$SB" release "e000-$(printf 'x%.0s' $(seq 146))"
refused_nospc nobody $SB_NOBODY "$SB" bind nobodys-key
grep -q "read-only until it can be written again" "$T/broker.log" || fail "the broker does not say it is read-only"
# the shim's bind of an over-long path fails and leaves the socket unbound
mkdir "$T/shimdir"
out=$(LD_PRELOAD="$SB_SHIM" SOCKBROKER_MODE=broker $PY "$top_srcdir/tests/hard-journal-shim.py" \
	"$T/shimdir" 2>&1) || fail "a failed shim bind: $out"
sb_log "$out"
assert_eq "$(count)" 40 "entries after refused requests"
"$SB" resolve newkey >/dev/null 2>&1 && fail "a refused bind left an entry"

# space again: the next request is written, and it says so
rm -f "$T/fs/fill" "$T/fs/fill2"
"$SB" release "e000-$(printf 'x%.0s' $(seq 146))" || fail "release once there is space"
grep -q "can be written again: read-write" "$T/broker.log" || fail "the broker does not say it is writable again"

sb_kill9
sb_start
assert_eq "$(count)" 39 "entries after kill -9: the 39 kept, the released one gone"
for i in $(seq 0 $((acked - 1))); do
	"$SB" resolve "new$i" >/dev/null || fail "new$i, acknowledged on the full file system, is gone"
done
"$SB" list | grep -q '^e000-' && fail "the released entry came back"
exit 0
