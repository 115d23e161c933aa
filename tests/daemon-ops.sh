#!/bin/bash
# SPDX-License-Identifier: ISC
# Every operation of the broker, through the raw protocol (sbproto.py) and
# the CLI: hello, bind (name, path with proof, prepare/bound, rebind of a
# held socket), get, put, resolve, wait, release, list, status.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
export PYTHONPATH="$top_srcdir/tests"
LONG=$(sb_long_path vm1.sock 180)
python3 "$top_srcdir/tests/daemon-ops.py" "$LONG" || fail "operations"

# The same through the CLI
SB=$SOCKBROKER
[ -x "$SB" ] || skip "the CLI is not built"
sp=$("$SB" bind cli1 --listen) || fail "sockbroker bind"
assert_eq "$sp" "$("$SB" path cli1)" "bind prints the short path"
assert_eq "$("$SB" resolve cli1)" "$sp" "resolve"
[ -S "$sp" ] || fail "no socket at $sp"
"$SB" get cli1 -- python3 -c 'import socket; s = socket.socket(fileno=3); assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)' \
	|| fail "get -- CMD"
"$SB" list | grep -q "cli1" || fail "list misses cli1"
"$SB" list --json | grep -q '"cli1"' || fail "list --json misses cli1"
"$SB" status | grep -q "entries:" || fail "status"
"$SB" wait cli1 --timeout 1 || fail "wait for an existing key"
"$SB" wait cli-none --timeout 0.1; assert_eq "$?" 2 "wait timeout exit status"
exec 7>"$T/putfile"
"$SB" put cli-fd --fd 7 || fail "put"
exec 7>&-
"$SB" release cli1 || fail "release"
[ -e "$sp" ] && fail "$sp still exists after release"
"$SB" get cli1 2>"$T/err"; assert_eq "$?" 1 "get after release"
assert_contains "$(cat "$T/err")" "cli1" "the error names the key"
sb_stop
