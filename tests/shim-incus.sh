#!/bin/bash
# SPDX-License-Identifier: ISC
# QEMU started exactly as Incus starts it (-S -name -uuid -daemonize
# -nodefaults -no-user-config -readconfig qemu.conf -pidfile -D -runas),
# with the monitor, the console, the TPM chardev and spice in qemu.conf at
# 150+ byte paths, and swtpm given the absolute long path: the shim hands
# QEMU a rewritten copy of qemu.conf (a sealed memfd). Proven end to end:
# the QMP greeting and query-tpm on the monitor, the spice REDQ link reply;
# after quit no socket or link is left at the long paths (broker mode).
# Direct mode too, where QEMU binds at the long paths themselves. swtpm and
# QEMU run as the Incus recipe of sockbroker-shim(8) wraps them.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need qemu-system-x86_64 socat swtpm

# Incus runs QEMU as its unprivileged user (-runas): as root, each mode
# runs once with -runas nobody and, in broker mode, once without.
RUNS="broker:"
if [ "$(id -u)" = 0 ]; then
	RUNS="$RUNS broker:nobody direct:nobody"
else
	sb_log "not root: without -runas"
	RUNS="$RUNS direct:"
fi

qmp() {
	local sock=$1
	shift
	printf '%s\n' '{"execute":"qmp_capabilities"}' "$@" |
		shimmed socat -t5 - UNIX-CONNECT:"$sock"
}

# The spice link message of a main channel: the server answers REDQ.
spice_link() {
	printf 'REDQ\x02\x00\x00\x00\x02\x00\x00\x00\x12\x00\x00\x00''\x00\x00\x00\x00\x01\x00''\x00\x00\x00\x00\x00\x00\x00\x00\x12\x00\x00\x00' |
		shimmed socat -t2 - UNIX-CONNECT:"$1" 2>/dev/null | head -c 4
}

gone() { ! test -e "$1" && ! test -L "$1"; }

for run in $RUNS; do
	mode=${run%:*} user=${run#*:}
	RUNAS=()
	[ -n "$user" ] && RUNAS=(-runas "$user")
	shim_mode $mode
	sb_log "mode $mode${user:+, -runas $user}"
	# swtpm and QEMU through the wrapper form of sockbroker-shim(8)'s
	# Incus recipe: sockbroker exec --mode auto -- PROGRAM (direct runs
	# say --mode direct: a broker is running)
	WRAP=(env SOCKBROKER_SHIM="$SB_SHIM" "$SOCKBROKER" exec --mode auto --)
	[ $mode = direct ] && WRAP=(env SOCKBROKER_SHIM="$SB_SHIM" "$SOCKBROKER" exec --mode direct --)
	mode=$mode${user:+-$user}
	RUN=$(dirname "$(sb_long_path "run-$mode/qemu.conf" 160)")
	mkdir -p "$RUN"
	chmod 0700 "$RUN"	# Incus: root's, 0700
	DEV=$(dirname "$(sb_long_path "devices-$mode/x" 160)")
	mkdir -p "$DEV/tpm"
	TPM=$DEV/swtpm-vtpm.sock
	"${WRAP[@]}" /usr/bin/swtpm socket --tpm2 --tpmstate dir="$DEV/tpm" \
		--ctrl type=unixio,path="$TPM" 2>"$T/swtpm.err" &
	tpm=$!
	sb_bg $tpm
	sb_wait_for test -S "$TPM" || fail "$mode: swtpm did not listen at $TPM: $(cat "$T/swtpm.err")"

	MON=$RUN/qemu.monitor CON=$RUN/qemu.console SPICE=$RUN/qemu.spice
	cat >"$RUN/qemu.conf" <<-EOF
	# Machine
	[machine]
	graphics = "off"
	type = "pc"
	accel = "tcg"
	usb = "off"

	[boot-opts]
	strict = "on"

	# Memory
	[memory]
	size = "64M"

	# Qemu control
	[chardev "monitor"]
	backend = "socket"
	path = "$MON"
	server = "on"
	wait = "off"

	# Console
	[chardev "console"]
	backend = "socket"
	path = "$CON"
	server = "on"
	wait = "off"

	# SPICE
	[spice]
	unix = "on"
	disable-ticketing = "on"
	addr = "$SPICE"

	[chardev "qemu_tpm-chardev_vtpm"]
	backend = "socket"
	path = "$TPM"

	[tpmdev "qemu_tpm-tpmdev_vtpm"]
	type = "emulator"
	chardev = "qemu_tpm-chardev_vtpm"

	[device "dev-incus_vtpm"]
	driver = "tpm-tis"
	tpmdev = "qemu_tpm-tpmdev_vtpm"
	EOF
	cp "$RUN/qemu.conf" "$T/qemu.conf.orig"

	# -daemonize: the command returns once QEMU is set up
	timeout 30 "${WRAP[@]}" /usr/bin/qemu-system-x86_64 -S -name "vm-$mode" \
		-uuid 5a1c6f3e-9d0b-4f5e-8a7c-0123456789ab -daemonize -cpu qemu64 -nographic \
		-serial chardev:console -qmp chardev:monitor -nodefaults -no-user-config \
		-readconfig "$RUN/qemu.conf" -pidfile "$RUN/qemu.pid" -D "$RUN/qemu.log" \
		"${RUNAS[@]}" 2>"$T/qemu.err" ||
		fail "$mode: qemu did not start: $(cat "$T/qemu.err" "$RUN/qemu.log" 2>/dev/null)"
	qpid=$(cat "$RUN/qemu.pid")
	sb_bg "$qpid"
	cmp -s "$RUN/qemu.conf" "$T/qemu.conf.orig" || fail "$mode: qemu.conf was changed on disk"
	test -S "$MON" || fail "$mode: no monitor socket at $MON"
	test -S "$SPICE" || fail "$mode: no spice socket at $SPICE"
	test -S "$CON" || fail "$mode: no console socket at $CON"

	shim_try "$T/out" qmp "$MON" '{"execute":"query-tpm"}' '{"execute":"query-name"}' ||
		fail "$mode: QMP on $MON"
	out=$(cat "$T/out")
	assert_contains "$out" '"QMP"' "$mode: greeting"
	assert_contains "$out" '"type": "emulator"' "$mode: query-tpm"
	assert_contains "$out" "\"name\": \"vm-$mode\"" "$mode: query-name"
	assert_eq "$(spice_link "$SPICE")" REDQ "$mode: spice link reply"

	qmp "$MON" '{"execute":"quit"}' >"$T/out" || fail "$mode: quit"
	sb_wait_for eval "! kill -0 $qpid" || fail "$mode: qemu still runs after quit"
	# QEMU shuts swtpm down at exit
	sb_wait_for eval "! kill -0 $tpm" || fail "$mode: swtpm still runs after QEMU quit"
	wait $tpm
	if [ "${mode%%-*}" = broker ]; then
		# QEMU unlinks its chardev sockets (as nobody after -runas it may
		# not remove the links in root's 0700 directory: the broker removes
		# them when QEMU exits), spice never unlinks its socket, swtpm
		# unlinks its own: nothing is left at the long paths
		for p in "$MON" "$CON" "$SPICE" "$TPM"; do
			sb_wait_for gone "$p" || fail "$mode: $p is left behind: $(ls -l "$p")"
		done
	fi

	if [ "${mode%%-*}" = broker ]; then
		sb_wait_for eval "! '$SOCKBROKER' list | grep -q run-$mode" ||
			fail "$mode: entries left after quit: $("$SOCKBROKER" list 2>&1)"
	fi
done
exit 0
