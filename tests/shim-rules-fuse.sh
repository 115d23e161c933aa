#!/bin/bash
# SPDX-License-Identifier: ISC
# A rule directory on a file system that answers a read with less than
# the file holds (FUSE with direct_io here; 9p and NFS may too): the shim
# reads each rule file to its end, so its rules apply whole. A rule file
# taken to end at its first short read would lose the rule (the program's
# socket path left long) or keep a cut one.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ "$(id -u)" = 0 ] || skip "mounting FUSE needs root here"
[ -c /dev/fuse ] || skip "no /dev/fuse"
PY3=/usr/bin/python3
[ -x "$PY3" ] && "$PY3" -c 'import fuse' 2>/dev/null || skip "python3-fuse is not installed"

ARGV="$top_builddir/tests/shim-argv"
[ -x "$ARGV" ] || fail "no $ARGV"
mkdir -p "$T/bin"
ln -s "$ARGV" "$T/bin/mytool"

M="$T/rules"
mkdir -p "$M"
RULES_NAME=mytool.rules RULES_CHUNK=7 \
RULES_TEXT=$'# mytool: served seven bytes a read\nmytool\t--sock\tserver\tpath\nmytool\t--peer\tclient\tpath\n' \
	"$PY3" "$top_srcdir/tests/shim-rules-fs.py" "$M" -f 2>"$T/fuse.log" &
fs=$!
unmount() { kill -KILL $fs 2>/dev/null; wait $fs 2>/dev/null; umount -l "$M" 2>/dev/null; }
trap 'unmount; _sb_cleanup' EXIT
sb_wait_for test -f "$M/mytool.rules" || fail "the FUSE file system did not come up: $(cat "$T/fuse.log")"
# what a reader gets from one read(2) of it
first=$(dd if="$M/mytool.rules" bs=4096 count=1 2>/dev/null | wc -c)
[ "$first" -lt 16 ] || fail "the file system answered one read with $first bytes, not a few"

L=$(sb_long_path "fuse-rules.sock" 170)
for mode in direct broker; do
	shim_mode $mode
	out=$(SOCKBROKER_REWRITE_DIRS="$M" "${SHIMMED[@]}" "$T/bin/mytool" --sock "$L" 2>"$T/err" |
		tr '\0' '\n') || fail "$mode: mytool: $(cat "$T/err")"
	[ -s "$T/err" ] && fail "$mode: the shim printed: $(cat "$T/err")"
	arg=$(printf '%s\n' "$out" | sed -n 2p)	# after --sock
	[ -n "$arg" ] || fail "$mode: no argument printed: $out"
	[ "$arg" != "$L" ] || fail "$mode: --sock was not rewritten: the rule file was read short"
	[ ${#arg} -lt 108 ] || fail "$mode: --sock became '$arg', not a short path"
	sb_log "$mode: --sock rewritten to $arg"
done
