#!/bin/bash
# SPDX-License-Identifier: ISC
# The CLI helps: --help on every command and "help COMMAND" (usage on
# stdout, exit 0); status in text (protocol, uptime with a unit, root) and
# JSON (version, protocol, root, uptime, counts, limits); list aligned
# whatever the key length, its PID column the live owner or "-"; and every
# exit status sockbroker(1) documents.
. "$top_srcdir/tests/lib.sh"
need python3
SB="$SOCKBROKER"
export SOCKBROKER_SHIM="$SB_SHIM"

# help, with no broker running
for c in bind get put path resolve wait release list status reexec exec help; do
	out=$($SB "$c" --help) || fail "$c --help exits $?"
	case "$out" in "usage: sockbroker "*"$c"*) ;; *) fail "$c --help: $out" ;; esac
	assert_eq "$($SB help "$c")" "$out" "help $c is $c --help"
	assert_eq "$($SB "$c" -h)" "$out" "$c -h"
done
assert_contains "$($SB bind --help)" "--lifetime" "bind --help lists its options"
assert_contains "$($SB wait --help)" "--timeout" "wait --help lists its options"
$SB bind k -- true --help >/dev/null 2>&1; r=$?
[ "$r" -ne 0 ] || fail "--help after -- is CMD's, not bind's"
$SB help | grep -q '^usage: sockbroker' || fail "help alone"
$SB help frobnicate 2>"$T/err"; assert_eq $? 100 "help of an unknown command"
assert_contains "$(cat "$T/err")" "frobnicate" "help names the unknown command"
$SB list --frobnicate 2>"$T/err"; assert_eq $? 100 "unknown option of list"
assert_contains "$(cat "$T/err")" "sockbroker help list" "the usage error points at help"

# exit 111: no broker
$SB status 2>/dev/null; assert_eq $? 111 "status without a broker"

sb_start --max-entries 77 --max-clients-per-uid 33 --client-timeout 40

# status, text
st=$($SB status) || fail "status"
assert_contains "$st" "protocol: 1" "status names the protocol version"
assert_contains "$st" "root: $ROOT" "status names the root"
assert_contains "$st" "pid: $SB_PID" "status pid"
printf '%s\n' "$st" | grep -Eq '^uptime: [0-9]+s' || fail "uptime with a unit: $st"
printf '%s\n' "$st" | grep -Eq '^version: [0-9]+\.[0-9]+' || fail "the broker's version: $st"
printf '%s\n' "$st" | grep -q '^entries: 0 (limit 77, ' || fail "entries and their limit: $st"

# status, JSON
$SB status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
root, pid, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
assert s["version"] == version, s
assert s["protocol"] == 1 and s["root"] == root and s["pid"] == pid, s
assert isinstance(s["uptime"], int) and s["uptime"] >= 0, s
assert s["entries"] == 0 and s["clients"] == 1, s
l = s["limits"]
assert l["max_entries"] == 77 and l["max_clients_per_uid"] == 33, l
assert l["client_timeout"] == 40 and l["max_clients"] > 0 and l["max_entries_per_uid"] > 0, l
' "$ROOT" "$SB_PID" "$($SB --version | sed 's/^sockbroker \([^ ]*\).*/\1/')" || fail "status --json"

# the wire: STATUS without flags gets what it always got (an older client
# refuses unknown fields); DETAILS adds the rest; an unknown flag is refused
python3 "$top_srcdir/tests/cli-help-status.py" "$ROOT" || fail "STATUS on the wire"

# list: rows aligned whatever the key length; PID the live owner or "-"
long=$(sb_long_path "a-socket-with-a-rather-long-name.sock" 170)
$SB bind s >/dev/null || fail "bind s"
$SB bind "$long" --listen >/dev/null || fail "bind a long path"
$SB bind a.name.of.sixty.bytes.or.so.to.pass.the.old.forty.eight.cap >/dev/null || fail "bind"
$SB bind owned --lifetime owner -- sleep 600 &
owner=$!
sb_bg $owner
sb_wait_for sh -c "$SB list | grep -q '^owned '" || fail "the owner entry never appeared"
$SB list >"$T/list" || fail "list"
python3 "$top_srcdir/tests/cli-help-align.py" "$T/list" "$owner" || fail "list alignment: $(cat "$T/list")"
$SB list --json | python3 -c '
import json, sys
e = {x["key"]: x for x in json.load(sys.stdin)}
assert e["s"]["pid"] is None and e["owned"]["pid"] == int(sys.argv[1]), e
' "$owner" || fail "list --json pid"

# every documented exit status
$SB resolve s >/dev/null; assert_eq $? 0 "exit 0"
$SB resolve nothing-here 2>/dev/null; assert_eq $? 1 "exit 1: no such entry"
$SB wait nothing-here --timeout 0 2>/dev/null; assert_eq $? 2 "exit 2: wait timed out"
$SB bind 'bad key' 2>/dev/null; assert_eq $? 100 "exit 100: invalid key"
$SB --root "$T/elsewhere" status 2>/dev/null; assert_eq $? 111 "exit 111: no broker"
: >"$T/not-executable"
# a command that is found but cannot be executed: 126, as a shell says
mkdir "$T/a-directory"
for cmd in "$T/not-executable" "$T/a-directory"; do
	$SB exec -- "$cmd" 2>"$T/err"; assert_eq $? 126 "exit 126: exec, $cmd cannot be executed"
	assert_contains "$(cat "$T/err")" "$cmd" "exec names the command it cannot execute"
	$SB get s -- "$cmd" 2>/dev/null; assert_eq $? 126 "exit 126: get -- $cmd"
	$SB bind cannot-exec --listen --lifetime owner -- "$cmd" 2>/dev/null
	assert_eq $? 126 "exit 126: bind -- $cmd"
	sh -c "'$cmd'" 2>/dev/null; assert_eq $? 126 "a shell's exit for $cmd (the convention)"
done
# not found: 127, on PATH or as a path
for cmd in sockbroker-no-such-command "$T/no-such-command"; do
	$SB exec -- "$cmd" 2>"$T/err"; assert_eq $? 127 "exit 127: exec, no such $cmd"
	assert_contains "$(cat "$T/err")" "$cmd" "exec names the missing command"
	$SB get s -- "$cmd" 2>/dev/null; assert_eq $? 127 "exit 127: get -- $cmd"
	$SB bind not-found --listen --lifetime owner -- "$cmd" 2>/dev/null
	assert_eq $? 127 "exit 127: bind -- $cmd"
done
$SB exec -- sh -c 'exit 42'; assert_eq $? 42 "exec exits with cmd's status"
exit 0
