#!/bin/bash
# SPDX-License-Identifier: ISC
# Soak: SB_SOAK_CLIENTS clients (default 8) each doing SB_SOAK_CYCLES
# (default 2000) bind/connect/get/accept/release cycles through the
# library, while shimmed programs do SB_SOAK_SHIM (default 50) rounds of
# a bind through the broker (a long path, owner lifetime, a proof) and a
# connect to it. The broker must end with the fds and entries it started
# with and VmRSS flat (SB_RSS_SLACK_KB, default 1024, after a warm-up).
# By hand: SB_SOAK_CYCLES=100000 make check TESTS=hard-soak.sh
. "$top_srcdir/tests/lib.sh"
CLIENTS=${SB_SOAK_CLIENTS:-8}
CYCLES=${SB_SOAK_CYCLES:-2000}
SHIM=${SB_SOAK_SHIM:-50}
SLACK=${SB_RSS_SLACK_KB:-1024}
CLIENT="$top_builddir/tests/hard-soak-client"
PROG="$top_builddir/tests/shim-prog"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SB_PID/status"; }
entries() { "$SOCKBROKER" status | sed -n 's/^entries: *//p'; }
entries_are() { [ "$(entries)" = "$1" ]; }
figures() { printf 'fds %s entries %s VmRSS %s kB' "$(sb_fd_count "$SB_PID")" "$(entries)" "$(rss)"; }

sb_start
"$SOCKBROKER" status | grep -q '^entries:' || fail "sockbroker status shows no entry count"
# a resident entry of each kind, and a warm-up round
"$SOCKBROKER" bind resident --listen >/dev/null || fail "bind resident"
"$SOCKBROKER" put resident-fd --fd 0 </dev/null || fail "put resident-fd"
fds0=$(sb_fds_settled); ent0=$(entries)
"$CLIENT" 0 200 || fail "warm-up"
# The broker closes released sockets on its closer thread, and sees a
# client go only when it reads the hang-up: right after the warm-up it
# may still hold some. The baseline is the count before the warm-up,
# which the warm-up must return to; VmRSS is taken after it (allocator
# warm-up).
sb_wait_fds "$fds0" ||
	fail "broker fds after the warm-up: $(sb_fd_count "$SB_PID"), $fds0 before"
rss0=$(rss)
sb_log "before: $(figures)"

shim_rounds() {
	local i L
	L=$(sb_long_path shim-soak.sock 160)
	for i in $(seq 1 "$SHIM"); do
		SOCKBROKER_MODE=broker LD_PRELOAD="$SB_SHIM" "$PROG" serve "$L" >"$T/serve.$i" 2>>"$T/shim.log" &
		local srv=$!
		sb_wait_for grep -qx ready "$T/serve.$i" || { echo "round $i: no server"; return 1; }
		out=$(SOCKBROKER_MODE=broker LD_PRELOAD="$SB_SHIM" "$PROG" call "$L" "ping$i" 2>>"$T/shim.log") ||
			{ echo "round $i: call failed"; return 1; }
		[ "$out" = "ping$i" ] || { echo "round $i: got '$out'"; return 1; }
		wait "$srv" || { echo "round $i: server failed"; return 1; }
	done
}

start=$(date +%s)
pids=
for i in $(seq 1 "$CLIENTS"); do
	"$CLIENT" "$i" "$CYCLES" &
	pids="$pids $!"
done
if [ -f "$SB_SHIM" ]; then
	shim_rounds || fail "shimmed rounds: $(tail -5 "$T/shim.log")"
else
	sb_log "the shim is not built: no shimmed rounds"
fi
for p in $pids; do
	wait "$p" || fail "a soak client failed"
done
took=$(( $(date +%s) - start ))
sb_wait_fds "$fds0" ||
	fail "broker fds: $(sb_fd_count "$SB_PID") after, $fds0 before"
sb_wait_for entries_are "$ent0" || fail "entries: $(entries) after, $ent0 before"
rss1=$(rss)
sb_log "after $CLIENTS x $CYCLES cycles and $SHIM shimmed rounds in ${took}s: $(figures)"
sb_log "VmRSS ${rss0} -> ${rss1} kB ($((rss1 - rss0)) kB, slack $SLACK)"
if grep -q libasan "/proc/$SB_PID/maps"; then
	sb_log "ASan build: VmRSS not judged (freed memory stays in its quarantine)"
else
	[ "$rss1" -le $((rss0 + SLACK)) ] || fail "VmRSS grew from $rss0 to $rss1 kB"
fi
"$SOCKBROKER" release resident && "$SOCKBROKER" release resident-fd || fail "release the residents"
sb_stop
