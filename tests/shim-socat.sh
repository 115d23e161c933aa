#!/bin/bash
# SPDX-License-Identifier: ISC
# socat over 150+ byte paths under the shim, in direct and broker mode:
# listen/connect both ways, paths that share their first 108 bytes stay
# distinct, a 108-byte path is left alone.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need socat

for mode in direct broker; do
	shim_mode $mode
	sb_log "mode $mode"

	# the connecting side talks to the listener and gets it back
	L=$(sb_long_path "echo-$mode.sock" 160)
	shim_bg "$T/srv.out" "${SHIMMED_VG[@]}" socat UNIX-LISTEN:"$L" PIPE
	srv=$SHIM_BG_PID
	sb_wait_for test -S "$L" || fail "$mode: socat did not listen at $L"
	shim_try "$T/out" bash -c 'echo ping | "${@:3}" socat -t30 - UNIX-CONNECT:"$2"' _ "$SB_SHIM" "$L" \
	    "${SHIMMED_VG[@]}" ||
		fail "$mode: UNIX-CONNECT"
	assert_eq "$(cat "$T/out")" ping "$mode: echo through UNIX-CONNECT"
	wait "$srv" || fail "$mode: the listener failed"
	[ -e "$L" ] && fail "$mode: $L is left behind"

	# the listener sends, the other side receives (UNIX-CLIENT, unix:)
	for addr in UNIX-CLIENT unix; do
		shim_bg "$T/srv.out" "${SHIMMED[@]}" socat -u SYSTEM:'echo from-listener' UNIX-LISTEN:"$L"
		srv=$SHIM_BG_PID
		sb_wait_for test -S "$L" || fail "$mode: no listener"
		# (socat's UNIX-CLIENT is not valgrind-clean by itself: not under valgrind)
		shim_try "$T/out" shimmed socat -u "$addr:$L" - || fail "$mode: $addr"
		assert_eq "$(cat "$T/out")" from-listener "$mode: listener to $addr"
		wait "$srv"
	done

	# data into the listener
	shim_bg "$T/srv.out" "${SHIMMED_VG[@]}" socat -u UNIX-LISTEN:"$L" OPEN:"$T/recv",creat,trunc
	srv=$SHIM_BG_PID
	sb_wait_for test -S "$L" || fail "$mode: no listener"
	shim_try "$T/out" bash -c 'echo to-listener | LD_PRELOAD="$1" socat -u - UNIX-CONNECT:"$2"' _ "$SB_SHIM" "$L" ||
		fail "$mode: connect to the receiving listener"
	wait "$srv"
	assert_eq "$(cat "$T/recv")" to-listener "$mode: data into the listener"

	# a launcher under the shim passes its rewritten arguments on (exec safety)
	shim_bg "$T/srv.out" "${SHIMMED[@]}" timeout 20 socat -u SYSTEM:'echo launched' UNIX-LISTEN:"$L"
	srv=$SHIM_BG_PID
	sb_wait_for test -S "$L" || fail "$mode: no listener behind timeout(1): $(tail -n 3 "$T/shim.log")"
	shim_try "$T/out" "${SHIMMED[@]}" env socat -u UNIX-CONNECT:"$L" - || fail "$mode: connect through env(1)"
	assert_eq "$(cat "$T/out")" launched "$mode: launchers"
	wait "$srv" || fail "$mode: the launched listener failed"

	# two paths equal in their first 108 bytes
	P=$(sb_long_path "x" 170)
	D=${P%/*}
	[ ${#D} -gt 108 ] || fail "test setup: directory too short"
	A="$D/alpha-$mode.sock" B="$D/beta-$mode.sock"
	[ "${A:0:108}" = "${B:0:108}" ] || fail "test setup: prefixes differ"
	shim_bg "$T/a.out" "${SHIMMED[@]}" socat -u SYSTEM:'echo alpha' UNIX-LISTEN:"$A"
	a=$SHIM_BG_PID
	shim_bg "$T/b.out" "${SHIMMED[@]}" socat -u SYSTEM:'echo beta' UNIX-LISTEN:"$B"
	b=$SHIM_BG_PID
	sb_wait_for test -S "$A" && sb_wait_for test -S "$B" || fail "$mode: no listeners at A and B"
	shim_try "$T/out" shimmed socat -u UNIX-CONNECT:"$B" - || fail "$mode: connect B"
	assert_eq "$(cat "$T/out")" beta "$mode: B"
	shim_try "$T/out" shimmed socat -u UNIX-CONNECT:"$A" - || fail "$mode: connect A"
	assert_eq "$(cat "$T/out")" alpha "$mode: A"
	wait "$a" "$b"
done

# exactly 108 bytes: legal, never rewritten
p="$T/"
n108="$p$(printf 'n%.0s' $(seq 1 $((108 - ${#p}))))"
[ ${#n108} -eq 108 ] || fail "test setup: ${#n108} bytes"
shim_bg "$T/srv.out" "${SHIMMED[@]}" socat -u SYSTEM:'echo short' UNIX-LISTEN:"$n108"
srv=$SHIM_BG_PID
sb_wait_for test -S "$n108" || fail "no listener at the 108-byte path"
SOCKBROKER_DEBUG=1 shim_try "$T/out" shimmed socat -u UNIX-CONNECT:"$n108" - || fail "108 bytes"
assert_eq "$(cat "$T/out")" short "108-byte path"
grep -q rewrote "$T/shim.log" && fail "a 108-byte path was rewritten: $(cat "$T/shim.log")"
wait "$srv"
exit 0
