#!/bin/bash
# SPDX-License-Identifier: ISC
# No silent truncation: a program that copies an over-long path of its
# command line into sun_path unchecked (spice-server, GLib clients) binds
# or connects to its first 107 or 108 bytes. Under the shim that is the
# long path's socket, in broker and direct mode: a C program that truncates
# on both sides, and QEMU -spice unix=on,addr=LONG (the REDQ link reply).
# A truncation of two different paths of the command line is refused with
# a message; a path that truncates nothing is left alone.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"

spice_link() {
	printf 'REDQ\x02\x00\x00\x00\x02\x00\x00\x00\x12\x00\x00\x00''\x00\x00\x00\x00\x01\x00''\x00\x00\x00\x00\x00\x00\x00\x00\x12\x00\x00\x00' |
		shimmed socat -t2 - UNIX-CONNECT:"$1" 2>/dev/null | head -c 4
}

for mode in broker direct; do
	shim_mode $mode
	sb_log "mode $mode"
	for n in 107 108; do
		# the server truncates: its socket is at the long path
		S=$(sb_long_path "trunc-srv-$mode-$n.sock" 170)
		shim_bg "$T/srv.out" "${SHIMMED[@]}" "$SHIM_PROG" serve-trunc $n "$S"
		shim_wait_line "$T/srv.out" ready || fail "$mode/$n: server: $(cat "$T/shim.log")"
		test -S "$S" || fail "$mode/$n: no socket at the long path $S"
		test -S "${S:0:$n}" && fail "$mode/$n: a socket at the truncated path ${S:0:$n}"
		out=$(shimmed "$SHIM_PROG" call "$S" "hello-$n") || fail "$mode/$n: call"
		assert_eq "$out" "hello-$n" "$mode/$n: echo through the truncating server"
		wait "$SHIM_BG_PID" || fail "$mode/$n: server exited with $?"

		# the client truncates: it reaches the long path's socket
		C=$(sb_long_path "trunc-cli-$mode-$n.sock" 170)
		mkfifo "$T/go"
		exec 7<>"$T/go"	# a writer first: opening it to read does not block
		"${SHIMMED[@]}" "$SHIM_PROG" call-trunc $n "$C" "hi-$n" <"$T/go" >"$T/cli.out" \
			2>>"$T/shim.log" &
		cli=$!
		sb_bg $cli
		# its constructor has run before the path exists: nothing to rewrite
		shim_wait_line "$T/cli.out" waiting || fail "$mode/$n: the client did not start"
		shim_bg "$T/srv.out" "${SHIMMED[@]}" "$SHIM_PROG" serve "$C"
		shim_wait_line "$T/srv.out" ready || fail "$mode/$n: server at $C"
		echo go >&7
		exec 7>&-
		rm -f "$T/go"
		wait $cli || fail "$mode/$n: the truncating client failed: $(tail -3 "$T/shim.log")"
		assert_eq "$(sed 1d "$T/cli.out")" "hi-$n" "$mode/$n: echo to the truncating client"
		wait "$SHIM_BG_PID" || fail "$mode/$n: server exited with $?"
	done

	# two paths of the command line with the same first 107 bytes
	A=$(sb_long_path "trunc-amb-$mode-a.sock" 170)
	B=${A%a.sock}b.sock
	if shimmed "$SHIM_PROG" serve-trunc 107 "$A" "$B" >"$T/out" 2>"$T/err"; then
		fail "$mode: an ambiguous truncation was bound"
	fi
	assert_contains "$(cat "$T/err")" "truncation of more than one path" "$mode: message"
	assert_contains "$(cat "$T/err")" "File name too long" "$mode: errno"
	test -S "${A:0:107}" && fail "$mode: the truncated path was bound"

	# a 107-byte path is what it says
	P=$T/
	P=$P$(printf 'p%.0s' $(seq 1 $((107 - ${#P}))))
	[ ${#P} = 107 ] || fail "test bug: ${#P} bytes"
	shim_bg "$T/srv.out" "${SHIMMED[@]}" "$SHIM_PROG" serve-trunc 107 "$P"
	shim_wait_line "$T/srv.out" ready || fail "$mode: server at a 107-byte path"
	test -S "$P" && ! test -L "$P" || fail "$mode: $P is not a plain socket"
	shimmed "$SHIM_PROG" call "$P" x >/dev/null || fail "$mode: call $P"
	wait "$SHIM_BG_PID"
	rm -f "$P"

	# QEMU's spice server copies addr= into sun_path
	if command -v qemu-system-x86_64 >/dev/null; then
		SP=$(sb_long_path "spice-$mode.sock" 165)
		shim_bg "$T/q.out" "${SHIMMED[@]}" qemu-system-x86_64 -machine none -nodefaults \
			-display none -spice unix=on,addr="$SP",disable-ticketing=on \
			-qmp stdio
		q=$SHIM_BG_PID
		sb_wait_for test -S "$SP" || fail "$mode: no spice socket at $SP: $(tail -3 "$T/shim.log")"
		assert_eq "$(spice_link "$SP")" REDQ "$mode: spice link reply"
		kill $q
		wait $q
	else
		sb_log "no qemu-system-x86_64: spice skipped"
	fi
done
exit 0
