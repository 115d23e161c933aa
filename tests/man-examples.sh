#!/bin/bash
# SPDX-License-Identifier: ISC
# The programs of libsockbroker(3)'s EXAMPLES, extracted from the built
# page, compile warning-free against sockbroker.h and the built library,
# and run against a real broker: with a name and with a path of 150+ bytes.
# A page whose examples guess a member, a constant or a signature fails.
. "$top_srcdir/tests/lib.sh"
need python3
: "${CC:=cc}"
need "${CC%% *}"

page="$top_builddir/man/libsockbroker.3"
[ -f "$page" ] || fail "no $page"
python3 "$top_srcdir/tests/man-examples.py" "$page" "$T" || fail "cannot extract the examples"
n=$(ls "$T"/example*.c | wc -l)
sb_log "$n programs in EXAMPLES"

sb_start
long=$(sb_long_path example.sock 160)
cd "$T" || fail "cd $T"	# a relative key (example-name) is made under $T
for c in "$T"/example*.c; do
	b=${c%.c}
	# shellcheck disable=SC2086
	$CC $SB_SAN_CFLAGS -Wall -Wextra -Werror -I"$top_srcdir/libbroker" -o "$b" "$c" \
	    -L"$top_builddir/libbroker/.libs" -lsockbroker 2>"$b.err" ||
		fail "$(basename "$c") does not compile: $(cat "$b.err")"
	for key in example-name "$long"; do
		out=$("$b" "$key" 2>&1) || fail "$(basename "$c") $key: exit $?: $out"
		sb_log "$(basename "$c") ${key:0:40}...: $(printf '%s' "$out" | head -n 1)"
	done
done
# they released what they made
left=$("$SOCKBROKER" list --json) || fail "list"
assert_eq "$left" "[]" "entries left by the examples"
exit 0
