#!/bin/bash
# SPDX-License-Identifier: ISC
# A C program under the shim (python3-free; under valgrind with
# SB_VALGRIND=1): over-long addresses in a larger buffer, threads binding
# and connecting concurrently (their binds the first calls the shim sees,
# all at once: the real symbols are resolved lazily), fork and exec, datagrams with sendto and
# sendmsg, a TCP round trip passed through untouched, SOCKBROKER_REWRITE,
# and sockbroker exec of a static program; direct and broker mode.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"

for mode in direct broker; do
	shim_mode $mode
	sb_log "mode $mode"
	P=$(sb_long_path "c-$mode.sock" 160)
	D=$(dirname "$(sb_long_path "threads-$mode/x" 150)")
	mkdir -p "$D"

	out=$(shimmed_vg "$SHIM_PROG" threads "$D" 8) || fail "$mode: threads"
	assert_eq "$out" "threads ok 8" "$mode: threads"
	# the same with nothing long on the command line: the constructor
	# resolves nothing, the eight binds race to resolve the real calls
	out=$(SHIM_PROG_DIR=$D shimmed_vg "$SHIM_PROG" threads - 8) || fail "$mode: threads first"
	assert_eq "$out" "threads ok 8" "$mode: threads making the first calls"
	shimmed_vg "$SHIM_PROG" fork "$P" || fail "$mode: fork and exec"
	out=$(shimmed_vg "$SHIM_PROG" dgram "$P") || fail "$mode: dgram"
	assert_eq "$out" "dgram ok" "$mode: dgram"
	out=$(shimmed_vg "$SHIM_PROG" tcp) || fail "$mode: tcp"
	assert_eq "$out" "tcp ok" "$mode: tcp"

	# an extra rule: the argument after --socket is a socket path
	SOCKBROKER_REWRITE='opt:--socket' shim_bg "$T/srv.out" "${SHIMMED_VG[@]}" "$SHIM_PROG" --socket "$P"
	srv=$SHIM_BG_PID
	shim_wait_line "$T/srv.out" ready || fail "$mode: --socket server not ready: $(cat "$T/shim.log")"
	out=$(shimmed "$SHIM_PROG" call "$P" via-rule) || fail "$mode: call the --socket server"
	assert_eq "$out" via-rule "$mode: SOCKBROKER_REWRITE"
	wait $srv || fail "$mode: --socket server failed"

	# sockbroker exec of a static program (no preload possible)
	if [ -x "$SHIM_PROG_STATIC" ]; then
		SOCKBROKER_REWRITE='opt:--socket' SOCKBROKER_SHIM="$SB_SHIM" shim_bg "$T/srv.out" \
			"$SOCKBROKER" exec --mode $mode -- "$SHIM_PROG_STATIC" --socket "$P"
		srv=$SHIM_BG_PID
		shim_wait_line "$T/srv.out" ready || fail "$mode: static server not ready: $(cat "$T/shim.log")"
		out=$(shimmed "$SHIM_PROG" call "$P" static) || fail "$mode: call the static server"
		assert_eq "$out" static "$mode: static program"
		wait $srv || fail "$mode: static server failed"
	fi
done

# non-AF_UNIX traffic: socat over TCP loopback under the shim
if command -v socat >/dev/null; then
	shim_bg "$T/tcp.out" "${SHIMMED_VG[@]}" socat -u SYSTEM:'echo over-tcp' TCP-LISTEN:0,bind=127.0.0.1,reuseaddr
	srv=$SHIM_BG_PID
	port=
	for i in $(seq 1 500); do
		port=$(ss -ltnpH 2>/dev/null | grep "pid=$srv," | sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' | head -1)
		[ -n "$port" ] && break
		port=$(ss -ltnpH 2>/dev/null | grep "socat" | sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' | head -1)
		[ -n "$port" ] && break
		sleep 0.02
	done
	[ -n "$port" ] || fail "no TCP port from socat"
	out=$(shimmed socat -u TCP:127.0.0.1:"$port" -) || fail "TCP connect"
	assert_eq "$out" over-tcp "TCP round trip"
	wait $srv
fi
exit 0
