#!/bin/bash
# SPDX-License-Identifier: ISC
# The helpers a virtualization stack runs beside QEMU, and QEMU's own
# spellings, on 150+ byte paths under the shim with the shipped rules,
# broker and direct mode, each proven end to end:
#   qemu-nbd --socket=LONG, then an NBD qemu-img info through
#     nbd+unix:///?socket=LONG, --image-opts server.path=LONG,
#     QEMU -drive file.server.path=LONG and -blockdev JSON (query-block)
#   -vnc unix:LONG (the RFB banner)
#   virtiofsd --socket-path=LONG and QEMU's vhost-user-fs on it
#   passt --socket LONG and QEMU's -netdev stream on it
#   slirp4netns --api-socket LONG (list_hostfwd)
# and what must never be rewritten: a backing file written into an image
# (qemu-img create -b LONG), -drive file=LONG, -pidfile LONG, -D LONG,
# swtpm --tpmstate dir=LONG.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need qemu-system-x86_64 qemu-img qemu-nbd socat

have() { command -v "$1" >/dev/null 2>&1 || { sb_log "$1 is not installed: skipped"; return 1; }; }
VIRTIOFSD=/usr/lib/qemu/virtiofsd
[ -x "$VIRTIOFSD" ] || VIRTIOFSD=$(command -v virtiofsd || true)

qmp() {
	local sock=$1
	shift
	printf '%s\n' '{"execute":"qmp_capabilities"}' "$@" |
		shimmed socat -t5 - UNIX-CONNECT:"$sock"
}

# qemu_qmp OUT ARGS...: QEMU (-machine none unless given) with a QMP
# socket at $Q, queried with the commands in $QMP_CMDS, then quit.
qemu_qmp() {
	local out=$1 q
	shift
	"${SHIMMED[@]}" qemu-system-x86_64 -nodefaults -display none \
		-qmp unix:"$Q",server=on,wait=off "$@" 2>"$T/qemu.err" &
	q=$!
	sb_bg $q
	sb_wait_for test -S "$Q" || fail "$mode: qemu $*: $(cat "$T/qemu.err")"
	shim_try "$out" qmp "$Q" "${QMP_CMDS[@]}" '{"execute":"quit"}' || fail "$mode: QMP"
	wait $q || fail "$mode: qemu exited with $?: $(cat "$T/qemu.err")"
}

qemu-img create -q -f qcow2 "$T/disk.qcow2" 16M || fail "qemu-img create"

for mode in broker direct; do
	shim_mode $mode
	sb_log "mode $mode"
	Q=$(sb_long_path "qmp-$mode.sock" 160)

	# NBD
	N=$(sb_long_path "nbd-$mode.sock" 165)
	shim_bg "$T/nbd.out" "${SHIMMED[@]}" qemu-nbd --persistent --shared=4 -f qcow2 \
		--socket="$N" "$T/disk.qcow2"
	nbd=$SHIM_BG_PID
	sb_wait_for test -S "$N" || fail "$mode: qemu-nbd did not listen at $N: $(tail -3 "$T/shim.log")"
	out=$(shimmed qemu-img info "nbd+unix:///?socket=$N") || fail "$mode: qemu-img info nbd+unix: $out"
	assert_contains "$out" "virtual size: 16 MiB" "$mode: nbd+unix:///?socket="
	out=$(shimmed qemu-img info --image-opts "driver=nbd,server.type=unix,server.path=$N") ||
		fail "$mode: qemu-img --image-opts: $out"
	assert_contains "$out" "virtual size: 16 MiB" "$mode: --image-opts server.path="
	QMP_CMDS=('{"execute":"query-block"}' '{"execute":"query-named-block-nodes"}')
	qemu_qmp "$T/out" -machine none \
		-drive "if=none,id=d0,format=raw,file.driver=nbd,file.server.type=unix,file.server.path=$N" \
		-blockdev "{\"driver\":\"nbd\",\"node-name\":\"n1\",\"server\":{\"type\":\"unix\",\"path\":\"$N\"}}"
	out=$(cat "$T/out")
	assert_contains "$out" '"device": "d0"' "$mode: -drive file.server.path="
	assert_contains "$out" '"node-name": "n1"' "$mode: -blockdev JSON"
	assert_contains "$out" '"drv": "nbd"' "$mode: an NBD node"
	kill $nbd
	wait $nbd

	# VNC on a unix socket: the RFB banner
	V=$(sb_long_path "vnc-$mode.sock" 165)
	"${SHIMMED[@]}" qemu-system-x86_64 -nodefaults -machine none -display none \
		-vnc unix:"$V" 2>"$T/qemu.err" &
	q=$!
	sb_bg $q
	sb_wait_for test -S "$V" || fail "$mode: no VNC socket at $V: $(cat "$T/qemu.err")"
	out=$(shimmed socat -t1 UNIX-CONNECT:"$V" - </dev/null 2>/dev/null | head -c 12)
	assert_eq "$out" "RFB 003.008" "$mode: the RFB banner"
	kill $q
	wait $q

	# virtiofsd and QEMU's vhost-user-fs
	if [ -n "$VIRTIOFSD" ] && [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
		F=$(sb_long_path "virtiofsd-$mode.sock" 165)
		mkdir -p "$T/share"
		# (virtiofsd writes a pid file in /run/virtiofsd: a private /run)
		unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' sh \
			"${SHIMMED[@]}" "$VIRTIOFSD" --socket-path="$F" -o source="$T/share" \
			-o sandbox=chroot -o cache=none 2>"$T/vfs.err" &
		vfs=$!
		sb_bg $vfs
		sb_wait_for test -S "$F" || fail "$mode: virtiofsd did not listen at $F: $(cat "$T/vfs.err")"
		QMP_CMDS=('{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}')
		qemu_qmp "$T/out" -machine pc,accel=tcg -S -m 64M \
			-object memory-backend-memfd,id=mem,size=64M,share=on -numa node,memdev=mem \
			-chardev socket,id=vfs,path="$F" -device vhost-user-fs-pci,id=fs0,chardev=vfs,tag=share
		assert_contains "$(cat "$T/out")" '"name": "fs0"' "$mode: vhost-user-fs device"
		# virtiofsd exits when its vhost-user client goes
		sb_wait_for eval "! kill -0 $vfs" || fail "$mode: virtiofsd still runs after QEMU quit"
		wait $vfs
	else
		sb_log "virtiofsd: not installed, not root or no mount namespace: skipped"
	fi

	# passt and QEMU's -netdev stream
	# (passt refuses to run as root: as root, it runs as nobody, as it
	# would switch to by itself, in a directory of nobody's)
	if have passt; then
		S=$(sb_long_path "passt-$mode/passt.sock" 165)
		AS=()
		mkdir -p "$(dirname "$S")"
		if [ "$(id -u)" = 0 ]; then
			AS=($SB_NOBODY)
			chown 65534 "$(dirname "$S")"
		fi
		"${AS[@]}" env LD_PRELOAD="$SB_SHIM" passt -f -1 --socket "$S" >"$T/passt.out" 2>&1 &
		pst=$!
		sb_bg $pst
		sb_wait_for test -S "$S" || fail "$mode: passt did not listen at $S: $(grep -v syslog "$T/passt.out")"
		QMP_CMDS=('{"execute":"query-status"}')
		qemu_qmp "$T/out" -machine none \
			-netdev stream,id=n0,server=off,addr.type=unix,addr.path="$S"
		assert_contains "$(cat "$T/out")" '"status"' "$mode: QEMU with passt"
		# one-off: passt quits once its client went
		sb_wait_for eval "! kill -0 $pst" || fail "$mode: passt did not see its client go"
		wait $pst
	fi

	# slirp4netns's API socket
	if have slirp4netns && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
		A=$(sb_long_path "slirp-$mode.sock" 165)
		unshare -n sleep 60 &
		ns=$!
		sb_bg $ns
		"${SHIMMED[@]}" slirp4netns --configure --api-socket "$A" $ns tap0 >"$T/slirp.out" 2>&1 &
		sl=$!
		sb_bg $sl
		sb_wait_for test -S "$A" || fail "$mode: slirp4netns did not listen at $A: $(cat "$T/slirp.out")"
		shim_try "$T/out" eval "echo '{\"execute\": \"list_hostfwd\"}' | \
			LD_PRELOAD=$SB_SHIM socat -t2 - UNIX-CONNECT:$A" || fail "$mode: slirp4netns API"
		assert_contains "$(cat "$T/out")" '"entries"' "$mode: list_hostfwd"
		kill $sl $ns
		wait $sl $ns
	fi

	# never rewritten: files, directories, a backing path written into an image
	L=$(dirname "$(sb_long_path "files-$mode/x" 170)")
	mkdir -p "$L/tpm"
	qemu-img create -q -f qcow2 "$L/base.qcow2" 16M || fail "$mode: base image"
	shimmed qemu-img create -q -f qcow2 -b "$L/base.qcow2" -F qcow2 "$L/top.qcow2" ||
		fail "$mode: qemu-img create -b"
	out=$(qemu-img info "$L/top.qcow2")
	assert_contains "$out" "backing file: $L/base.qcow2" "$mode: the backing path in the image"
	QMP_CMDS=('{"execute":"query-block"}')
	qemu_qmp "$T/out" -machine none -drive "if=none,id=d0,file=$L/top.qcow2" \
		-pidfile "$L/qemu.pid" -D "$L/qemu.log"
	assert_contains "$(cat "$T/out")" "\"file\": \"$L/top.qcow2\"" "$mode: -drive file="
	test -f "$L/qemu.log" || fail "$mode: -D wrote no log at $L/qemu.log"
	if have swtpm; then
		C=$(sb_long_path "tpmneg-$mode.sock" 165)
		shim_bg "$T/tpm.out" "${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$L/tpm" \
			--ctrl type=unixio,path="$C" --flags not-need-init,startup-clear
		tpm=$SHIM_BG_PID
		sb_wait_for test -S "$C" || fail "$mode: swtpm did not listen at $C"
		sb_wait_for eval "ls '$L/tpm' | grep -q ." || fail "$mode: no TPM state in $L/tpm"
		kill $tpm
		wait $tpm
	fi
done
exit 0
