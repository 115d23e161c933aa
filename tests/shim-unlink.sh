#!/bin/bash
# SPDX-License-Identifier: ISC
# A server's unlink of its own socket, in broker mode, does not wait for
# the broker: the shim sends the release and the unlink returns (strace:
# no recvmsg between the program's "unlinking" and "unlinked" lines). The
# broker handles the release before the next bind of the same process,
# so a server that unlinks and binds again, round after round, gets its
# socket each time and its client reaches the last one. Both ways a
# program names an over-long path: in a larger buffer (its real unlink
# removes the link at the long path), and rewritten on its command line
# (it unlinks the short path; the link at the long path goes within the
# call). A held entry's socket still stays through a server's unlink.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"
need strace
# strace of a program under the shim needs ptrace (a container may refuse it)
strace -f -qq -o /dev/null true 2>/dev/null || skip "strace cannot trace here"

shim_mode broker
ROUNDS=3

# The system calls of each "unlinking I" .. "unlinked I" window of a
# strace -f log: "I recv=N link=M", M the unlink/unlinkat calls of the
# long path's last name (the link).
windows() {
	awk -v base="$2" '
		/write\(1, "unlinking [0-9]+/ {
			match($0, /unlinking [0-9]+/)
			w = substr($0, RSTART + 10, RLENGTH - 10); inw = 1; r = 0; l = 0; next
		}
		inw && /recvmsg\(/ { r++ }
		inw && /unlink(at)?\(/ && index($0, "\"" base "\"") + index($0, "/" base "\"") > 0 { l++ }
		inw && /write\(1, "unlinked [0-9]+/ { print w " recv=" r " link=" l; inw = 0 }
	' "$1"
}

want=
for i in $(seq 0 $((ROUNDS - 1))); do
	want="$want$i recv=0 link=1"$'\n'
done
want=${want%$'\n'}

run() {
	local how=$1 P out
	shift
	P=$(sb_long_path "unlink-$how.sock" 160)
	sb_log "$how: $ROUNDS rounds of bind, listen, unlink, close"
	coproc RL { SHIM_PROG_STEP=1 exec strace -f -qq -s 256 -o "$T/$how.trace" \
		-e trace=write,recvmsg,unlink,unlinkat "$@" "${SHIMMED[@]}" \
		"$SHIM_PROG" relisten $ROUNDS $( [ "$how" = rewritten ] && echo --socket ) "$P" \
		2>>"$T/shim.log"; }
	srv=$RL_PID
	sb_bg "$srv"
	# strace leaves its tracee running when it is killed: the cleanup kills both
	sb_wait_for pgrep -P "$srv" || fail "$how: the traced program did not start"
	sb_bg "$(pgrep -P "$srv")"
	for i in $(seq 0 $((ROUNDS - 1))); do
		read -r -t 60 line <&"${RL[0]}" && read -r -t 60 line <&"${RL[0]}" ||
			fail "$how: round $i: $(tail -5 "$T/shim.log")"
		assert_eq "$line" "unlinked $i: 0" "$how: unlink $i"
		# the release went to the broker, unasked for: the entry and its
		# short socket go while the process lives, before its next bind
		sb_wait_for eval "! '$SOCKBROKER' resolve '$P'" ||
			fail "$how: round $i: the entry outlived the unlink: $("$SOCKBROKER" list)"
		echo go >&"${RL[1]}"
	done
	read -r -t 60 line <&"${RL[0]}" || fail "$how: not ready: $(tail -5 "$T/shim.log")"
	assert_eq "$line" ready "$how: the last bind"
	out=$(shimmed "$SHIM_PROG" call "$P" "after-$how") || fail "$how: call the last bind"
	assert_eq "$out" "after-$how" "$how: a client of the server that bound again"
	wait "$srv" || fail "$how: the server failed: $(tail -5 "$T/shim.log")"
	assert_eq "$(windows "$T/$how.trace" "unlink-$how.sock")" "$want" \
		"$how: unlink waits for no reply, and the link at the long path is gone when it returns"
	sb_wait_for eval "! '$SOCKBROKER' resolve '$P'" ||
		fail "$how: the entry outlived its server's unlink and exit: $("$SOCKBROKER" list)"
	[ ! -L "$P" ] || fail "$how: the link at the long path is left"
}

run buffer
run rewritten env SOCKBROKER_REWRITE=opt:--socket

# a held entry: the server's unlink leaves the socket (the broker said at
# bind that the entry is not the program's to end)
H=$(sb_long_path "unlink-held.sock" 160)
HS=$("$SOCKBROKER" bind "$H" --listen --lifetime hold) || fail "sockbroker bind --lifetime hold"
shim_bg "$T/held.out" "${SHIMMED[@]}" "$SHIM_PROG" relisten 1 "$H"
srv=$SHIM_BG_PID
shim_wait_line "$T/held.out" ready || fail "held: not ready: $(tail -5 "$T/shim.log")"
out=$(shimmed "$SHIM_PROG" call "$H" held) || fail "held: call"
assert_eq "$out" held "held: a client"
wait "$srv" || fail "held: the server failed"
[ -S "$HS" ] || fail "held: a server's unlink removed the held socket"
"$SOCKBROKER" release "$H" || fail "release of the held entry"
exit 0
