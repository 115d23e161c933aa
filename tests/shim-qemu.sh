#!/bin/bash
# SPDX-License-Identifier: ISC
# QEMU under the shim with 150+ byte paths, direct and broker mode:
# a QMP socket (-qmp unix:LONG,server=on,wait=off) driven by socat under
# the shim (qmp_capabilities, query-status, quit), and -tpmdev emulator on
# a -chardev socket,path=LONG connected to swtpm, proven by query-tpm.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need qemu-system-x86_64 socat swtpm

qmp() {
	local sock=$1
	shift
	printf '%s\n' '{"execute":"qmp_capabilities"}' "$@" |
		LD_PRELOAD="$SB_SHIM" socat -t5 - UNIX-CONNECT:"$sock"
}

for mode in direct broker; do
	shim_mode $mode
	sb_log "mode $mode"

	Q=$(sb_long_path "qmp-$mode.sock" 160)
	"${SHIMMED[@]}" qemu-system-x86_64 -machine none -nodefaults -display none \
		-qmp unix:"$Q",server=on,wait=off 2>"$T/qemu.err" &
	qemu=$!
	sb_bg $qemu
	sb_wait_for test -S "$Q" || fail "$mode: no QMP socket at $Q: $(cat "$T/qemu.err")"
	shim_try "$T/out" qmp "$Q" '{"execute":"query-status"}' '{"execute":"quit"}' ||
		fail "$mode: QMP"
	out=$(cat "$T/out")
	assert_contains "$out" '"QMP"' "$mode: greeting"
	assert_contains "$out" '"status": "' "$mode: query-status"
	assert_contains "$out" '"host-qmp-quit"' "$mode: quit"
	wait $qemu || fail "$mode: qemu exited with $?"
	sb_wait_for eval "! test -e '$Q' && ! test -L '$Q'" || fail "$mode: $Q is left behind"

	# QEMU's TPM emulator backend talks to swtpm, both over long paths
	C=$(sb_long_path "tpm-$mode.sock" 165)
	ST=$(sb_long_path "tpmstate-$mode" 150)
	mkdir -p "$ST"
	"${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$ST" --ctrl type=unixio,path="$C" \
		--flags not-need-init,startup-clear 2>"$T/swtpm.err" &
	tpm=$!
	sb_bg $tpm
	sb_wait_for test -S "$C" || fail "$mode: swtpm did not listen at $C"
	"${SHIMMED[@]}" qemu-system-x86_64 -machine pc -accel tcg -S -nodefaults -display none \
		-chardev socket,id=t,path="$C" -tpmdev emulator,id=tpm0,chardev=t \
		-device tpm-tis,tpmdev=tpm0 -qmp unix:"$Q",server=on,wait=off 2>"$T/qemu.err" &
	qemu=$!
	sb_bg $qemu
	sb_wait_for test -S "$Q" || fail "$mode: qemu with the TPM did not start: $(cat "$T/qemu.err")"
	shim_try "$T/out" qmp "$Q" '{"execute":"query-tpm"}' '{"execute":"quit"}' || fail "$mode: QMP (TPM)"
	out=$(cat "$T/out")
	assert_contains "$out" '"model": "tpm-tis"' "$mode: query-tpm"
	assert_contains "$out" '"type": "emulator"' "$mode: query-tpm"
	wait $qemu || fail "$mode: qemu (TPM) exited with $?"
	# QEMU shuts swtpm down at exit
	sb_wait_for eval "! kill -0 $tpm" || fail "$mode: swtpm still runs after QEMU quit"
	wait $tpm
done
exit 0
