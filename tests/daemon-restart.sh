#!/bin/bash
# SPDX-License-Identifier: ISC
# Entry metadata survives a restart (clean or SIGKILL) through ROOT/state.
# Without an fd store, held sockets and fds are lost: those entries are
# reported and cleaned. Owner entries whose process is still the same are
# tracked again; the others are cleaned. A damaged journal tail is ignored.
. "$top_srcdir/tests/lib.sh"
need python3

export PYTHONPATH="$top_srcdir/tests"
sb_start

# two owner processes: one lives through the restart, one dies meanwhile
owner() {	# owner KEY: bind KEY with owner lifetime, print our pid, wait
	exec python3 "$top_srcdir/tests/daemon-restart-owner.py" "$1"
}
mkfifo "$T/f1" "$T/f2"
owner live1 >"$T/f1" & LIVE=$!; sb_bg $LIVE
owner dead1 >"$T/f2" & DEAD=$!; sb_bg $DEAD
read -r -t 20 x <"$T/f1" || fail "live1 owner did not start"
read -r -t 20 x <"$T/f2" || fail "dead1 owner did not start"

python3 "$top_srcdir/tests/daemon-restart-setup.py" || fail "setup"
sp() { python3 -c 'import sys; from sbproto import *; print(short_path(sys.argv[1], sys.argv[2]))' "$ROOT" "$1"; }
HELD_DIR=$(dirname "$(sp held1)")
DEAD_DIR=$(dirname "$(sp dead1)")
LIVE_DIR=$(dirname "$(sp live1)")
PREP_DIR=$(dirname "$(sp prep1)")

sb_stop
[ -s "$ROOT/state" ] || fail "no state file after a clean stop"
kill -KILL "$DEAD"; wait "$DEAD" 2>/dev/null
: >"$T/broker.log"
sb_start

grep -q "entry held1: the previous broker held its socket and it did not come back: released" \
	"$T/broker.log" || fail "held1 not reported"
grep -q "entry fd1: the previous broker held its fd and it did not come back: released" \
	"$T/broker.log" || fail "fd1 not reported"
grep -q "entry dead1: its process $DEAD is gone: released" "$T/broker.log" || fail "dead1 not reported"
[ -e "$HELD_DIR" ] && fail "the directory of held1 was not cleaned"
[ -e "$DEAD_DIR" ] && fail "the directory of dead1 was not cleaned"
[ -S "$LIVE_DIR/sock" ] || fail "the socket of live1 is gone"
[ -S "$PREP_DIR/sock" ] || fail "the socket of prep1 is gone"
python3 "$top_srcdir/tests/daemon-restart-after.py" "$LIVE" || fail "entries after a restart"

# live1 is tracked again: killing its process now releases it
kill -KILL "$LIVE"; wait "$LIVE" 2>/dev/null
sb_wait_for test ! -e "$LIVE_DIR" || fail "live1 not released when its process died"

# SIGKILL of the broker: the journal has everything acknowledged before
python3 -c 'from sbproto import *; c = Client(); [c.call("bind", key="k%d" % n, flags=LISTEN) for n in range(50)]; assert c.call("bind", key="kp", flags=PREPARE)[0] == "ok"'
sb_kill9
: >"$T/broker.log"
sb_start
n=$(grep -c "did not come back: released" "$T/broker.log")
assert_eq "$n" 50 "held entries reported after SIGKILL"
python3 -c 'from sbproto import *; ks = [e["key"] for e in Client().list()]; assert sorted(ks) == ["kp", "prep1"], ks' \
	|| fail "entries after SIGKILL"

# a torn last record (a crash in the middle of a write) is ignored
sb_stop
printf 'SBR1\377\000\000\000garbage' >>"$ROOT/state"
: >"$T/broker.log"
sb_start
grep -q "damaged or truncated record" "$T/broker.log" || fail "the torn record was not reported"
python3 -c 'from sbproto import *; ks = [e["key"] for e in Client().list()]; assert sorted(ks) == ["kp", "prep1"], ks' \
	|| fail "entries after a torn record"

# a prepared entry whose directory is gone, or is a symlink now, is released
# once the broker serves (it looks after READY); the symlink's target
# (another entry's directory) is left alone
python3 -c 'from sbproto import *; c = Client(); assert all(c.call("bind", key=k, flags=PREPARE)[0] == "ok" for k in ("gone1", "link1"))' \
	|| fail "prepare gone1, link1"
GONE_DIR=$(dirname "$(sp gone1)")
LINK_DIR=$(dirname "$(sp link1)")
[ -d "$GONE_DIR" ] && [ -d "$LINK_DIR" ] || fail "no directories for gone1, link1"
sb_stop
rm -rf "$GONE_DIR" "$LINK_DIR"
ln -s "$PREP_DIR" "$LINK_DIR"
: >"$T/broker.log"
sb_start
sb_wait_for grep -q "entry gone1: its directory is gone: released" "$T/broker.log" ||
	fail "gone1 not reported"
sb_wait_for grep -q "entry link1: its directory is gone: released" "$T/broker.log" ||
	fail "link1 not reported"
[ -S "$PREP_DIR/sock" ] || fail "the socket of prep1 went with link1's symlink"
python3 -c 'from sbproto import *; ks = [e["key"] for e in Client().list()]; assert sorted(ks) == ["kp", "prep1"], ks' \
	|| fail "entries after directories went away"
sb_stop
