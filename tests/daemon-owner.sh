#!/bin/bash
# SPDX-License-Identifier: ISC
# Owner lifetime: the entry lives as long as the process that made it.
# Killed with SIGKILL, its entry, socket file and directory disappear.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
export PYTHONPATH="$top_srcdir/tests"
LONG=$(sb_long_path owner.sock 160)

# A process that binds three owner entries (a name, a path with proof, a
# prepared name it binds itself), says so on a fifo, then waits forever.
mkfifo "$T/fifo"
python3 "$top_srcdir/tests/daemon-owner-hold.py" "$LONG" >"$T/fifo" &
OWNER=$!
sb_bg $OWNER
read -r -t 20 pid <"$T/fifo" || fail "the owner process did not bind"
assert_eq "$pid" "$OWNER" "owner pid"

python3 "$top_srcdir/tests/daemon-owner-live.py" "$LONG" "$OWNER" || fail "owner entries while the owner lives"

dir1=$(dirname "$(python3 -c 'import sys; from sbproto import *; print(short_path(sys.argv[1], "own1"))' "$ROOT")")
dir2=$(dirname "$(readlink "$LONG")")
dir3=$(dirname "$(python3 -c 'import sys; from sbproto import *; print(short_path(sys.argv[1], "own3"))' "$ROOT")")
[ -d "$dir1" ] && [ -d "$dir2" ] && [ -d "$dir3" ] || fail "entry directories missing"

kill -KILL "$OWNER"
wait "$OWNER" 2>/dev/null
gone() { [ ! -e "$dir1" ] && [ ! -e "$dir2" ] && [ ! -e "$dir3" ]; }
sb_wait_for gone || fail "the entries of a killed owner stayed: $(ls -R "$ROOT")"
python3 "$top_srcdir/tests/daemon-owner-dead.py" || fail "entries after the owner died"
# the binder above exited too: own1 goes as well
sb_wait_for test ! -e "$dir1" || fail "own1 of an exited process stayed"
sb_stop
