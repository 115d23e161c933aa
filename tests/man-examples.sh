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
python3 - "$page" "$T" <<'PY' || fail "cannot extract the examples"
import re, sys
src = open(sys.argv[1]).read()
ex = src.split("\n.Sh EXAMPLES\n", 1)[1].split("\n.Sh ", 1)[0]
progs = re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", ex, re.S | re.M)
progs = [p for p in progs if "int\nmain(" in p]
if not progs:
    sys.exit("no program (with a main) in EXAMPLES")
def unescape(s):
    return re.sub(r"\\(e|&|-|\(aq|\(dq)",
                  lambda m: {"e": "\\", "&": "", "-": "-", "(aq": "'", "(dq": '"'}[m.group(1)], s)
for i, p in enumerate(progs):
    open("%s/example%d.c" % (sys.argv[2], i + 1), "w").write(unescape(p))
print(len(progs))
PY
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
