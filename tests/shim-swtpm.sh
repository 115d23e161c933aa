#!/bin/bash
# SPDX-License-Identifier: ISC
# swtpm in socket mode with 150+ byte control and data paths under the
# shim, driven by swtpm_ioctl (init, --info 1, shutdown) and swtpm_bios,
# also under the shim; direct and broker mode. --tpmstate dir= is long too
# and must not be touched.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need swtpm swtpm_ioctl swtpm_bios

for mode in direct broker; do
	shim_mode $mode
	sb_log "mode $mode"
	C=$(sb_long_path "ctrl-$mode.sock" 160)
	D=$(sb_long_path "data-$mode.sock" 170)
	ST=$(sb_long_path "state-$mode" 150)
	mkdir -p "$ST"

	SOCKBROKER_DEBUG=1 "${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$ST" \
		--ctrl type=unixio,path="$C",mode=0600 --server type=unixio,path="$D" \
		--flags not-need-init 2>"$T/swtpm.err" &
	tpm=$!
	sb_bg $tpm
	sb_wait_for test -S "$C" || fail "$mode: swtpm did not listen at $C: $(cat "$T/swtpm.err")"
	sb_wait_for test -S "$D" || fail "$mode: swtpm did not listen at $D"
	[ "$(grep -c "rewrote" "$T/swtpm.err")" = 2 ] || fail "$mode: want 2 rewrites: $(cat "$T/swtpm.err")"
	grep -q "rewrote .*state-$mode" "$T/swtpm.err" && fail "$mode: --tpmstate was rewritten"

	shim_try "$T/out" shimmed_vg swtpm_ioctl --unix "$C" -i || fail "$mode: swtpm_ioctl -i"
	shimmed_vg swtpm_ioctl --unix "$C" --info 1 >"$T/out" || fail "$mode: swtpm_ioctl --info 1"
	assert_contains "$(cat "$T/out")" TPMSpecification "$mode: --info 1"
	shimmed_vg swtpm_bios --tpm2 --unix "$D" || fail "$mode: swtpm_bios"
	shimmed_vg swtpm_ioctl --unix="$C" -s || fail "$mode: swtpm_ioctl -s"
	wait $tpm || fail "$mode: swtpm exited with $?"
	# swtpm unlinks its paths at exit: nothing is left at the long paths
	sb_wait_for eval "! test -e '$C' && ! test -L '$C'" || fail "$mode: $C is left behind"
	sb_wait_for eval "! test -e '$D' && ! test -L '$D'" || fail "$mode: $D is left behind"
	[ -d "$ST" ] || fail "$mode: the state directory is gone"
done

# What swtpm's start asks of the broker (strace): its bind (an ADOPT), and
# nothing else before it listens. Its unlink of the path before the bind,
# with nothing there yet, is not a RELEASE round trip, and swtpm_ioctl, a
# client, makes no connection to the broker at all (no probe: its connect
# is a pure function of the path).
if strace -f -qq -o /dev/null true 2>/dev/null; then
	shim_mode broker
	sb_log "broker: what swtpm asks before it listens (strace)"
	C=$(sb_long_path "ctrl-trace.sock" 160)
	ST=$(sb_long_path "state-trace" 150)
	mkdir -p "$ST"
	strace -f -qq -s 16 -o "$T/swtpm.trace" -e trace=sendmsg,unlink,listen \
		"${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$ST" \
		--ctrl type=unixio,path="$C" --flags not-need-init 2>"$T/swtpm.err" &
	tpm=$!
	sb_bg $tpm
	sb_wait_for test -S "$C" || fail "traced swtpm did not listen at $C: $(cat "$T/swtpm.err")"
	shim_try "$T/out" strace -f -qq -o "$T/ioctl.trace" -e trace=connect \
		"${SHIMMED[@]}" swtpm_ioctl --unix "$C" -s || fail "traced swtpm_ioctl -s"
	wait $tpm || fail "traced swtpm exited with $?"
	# the message types (SBRK, version 1, then the type's two bytes) sent
	# up to the listen: 0x0101 BIND, 0x0106 RELEASE
	sent=$(awk '/listen\(/ { exit }
		/sendmsg\(/ && match($0, /SBRK\\1\\0\\[0-9]+\\[0-9]+/) {
			split(substr($0, RSTART + 9, RLENGTH - 9), b, "\\"); printf "%s%s.%s", sep, b[2], b[1]; sep = " "
		}' "$T/swtpm.trace")
	assert_eq "$sent" "1.1" "swtpm's start: its bind and nothing else (RELEASE is 1.6)"
	grep -q '^[0-9]* *unlink(' "$T/swtpm.trace" || fail "swtpm did not unlink its path first (the case this covers)"
	n=$(grep -c "connect(.*\"$ROOT/control\"" "$T/ioctl.trace")
	assert_eq "$n" 0 "swtpm_ioctl's connections to the broker"
fi

# A held control socket (sockbroker bind --lifetime hold): swtpm unlinks
# its path and binds it; under the shim it gets the held socket, so the
# socket outlives a swtpm killed with -9 and serves the next one.
sb_log "held control socket: swtpm, kill -9, swtpm again"
C=$(sb_long_path "ctrl-held.sock" 160)
ST=$(sb_long_path "state-held" 150)
mkdir -p "$ST"
CS=$("$SOCKBROKER" bind "$C" --listen --lifetime hold) || fail "bind --lifetime hold"
for round in 1 2; do
	"${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$ST" --ctrl type=unixio,path="$C" \
		--flags not-need-init 2>"$T/swtpm.err" &
	tpm=$!
	sb_bg $tpm
	shim_try "$T/out" shimmed swtpm_ioctl --unix "$C" --info 1 ||
		fail "held, round $round: swtpm_ioctl: $(cat "$T/swtpm.err")"
	assert_contains "$(cat "$T/out")" TPMSpecification "held, round $round: --info 1"
	kill -KILL $tpm
	wait $tpm 2>/dev/null
	[ -S "$CS" ] || fail "held, round $round: the held socket went with swtpm"
done
"$SOCKBROKER" release "$C" || fail "release the held control socket"

# The way libvirt starts it: --daemon (swtpm binds in its grandchild, after
# the parent has exited), a pid file and a log file with long paths too.
# The owner of the entry is the process that bound, so the socket stays
# while the daemon runs and goes when it stops.
sb_log "libvirt style: swtpm --daemon, broker mode"
C=$(sb_long_path "ctrl-daemon.sock" 160)
PIDF=$(sb_long_path "swtpm-daemon.pid" 150)
LOGF=$(sb_long_path "swtpm-daemon.log" 150)
ST=$(sb_long_path "state-daemon" 150)
mkdir -p "$ST"
"${SHIMMED[@]}" swtpm socket --daemon --tpm2 --tpmstate dir="$ST" \
	--ctrl type=unixio,path="$C",mode=0600 --pid file="$PIDF" --log file="$LOGF" \
	--flags not-need-init,startup-clear 2>"$T/swtpm.err" || fail "swtpm --daemon: $(cat "$T/swtpm.err")"
sb_wait_for test -s "$PIDF" || fail "swtpm --daemon wrote no pid file at $PIDF"
dpid=$(cat "$PIDF")
sb_bg "$dpid"
sb_wait_for test -S "$C" || fail "swtpm --daemon did not listen at $C"
S=$(readlink "$C")
case "$S" in "$ROOT"/*/*/sock) ;; *) fail "swtpm --daemon: $C links to '$S', not a short path" ;; esac
shim_try "$T/out" shimmed swtpm_ioctl --unix "$C" --info 1 || fail "swtpm --daemon: swtpm_ioctl --info 1"
assert_contains "$(cat "$T/out")" TPMSpecification "swtpm --daemon: --info 1"
"$SOCKBROKER" list >"$T/list" || fail "list"
assert_contains "$(cat "$T/list")" "$dpid" "the entry belongs to the daemon's pid"
shimmed swtpm_ioctl --unix "$C" -s || fail "swtpm --daemon: swtpm_ioctl -s"
sb_wait_for eval "! kill -0 $dpid" || fail "swtpm --daemon did not stop"
sb_wait_for eval "! test -e '$S'" || fail "swtpm --daemon left its short socket $S"
exit 0
