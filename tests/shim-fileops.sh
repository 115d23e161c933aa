#!/bin/bash
# SPDX-License-Identifier: ISC
# File operations on a socket path behave as at the long path, in broker
# and direct mode, 150+ byte paths:
# - a server that binds a temporary name and then link()s or rename()s it
#   to its path (OpenSSH's ControlMaster) serves there, and in broker mode
#   the entry becomes ready (sockbroker wait wakes) only once it is there;
# - chmod and chown of the long path reach the socket (who may connect
#   follows them), stat sees a socket; swtpm's mode= too;
# - unlink of the long path (rm under the shim) removes it and its entry.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"

for mode in broker direct; do
	shim_mode $mode
	sb_log "mode $mode"
	for how in link rename; do
		P=$(sb_long_path "ctl-$how-$mode" 170)
		SOCKBROKER_REWRITE=opt:--socket shim_bg "$T/srv.out" "${SHIMMED[@]}" \
			"$SHIM_PROG" serve-tmp $how --socket "$P"
		srv=$SHIM_BG_PID
		shim_wait_line "$T/srv.out" ready || fail "$mode/$how: server: $(tail -3 "$T/shim.log")"
		if [ $mode = broker ]; then
			timeout 10 "$SOCKBROKER" wait "$P" >/dev/null || fail "$mode/$how: the entry never became ready"
		fi
		ls "$(dirname "$P")" >"$T/ls"
		grep -q "tmp" "$T/ls" && [ $how = link ] && fail "$mode/$how: the temporary name is left"
		test -S "$P" || fail "$mode/$how: no socket at $P"
		out=$(shimmed "$SHIM_PROG" call "$P" "hi-$how") || fail "$mode/$how: call"
		assert_eq "$out" "hi-$how" "$mode/$how: echo"
		wait $srv || fail "$mode/$how: server exited with $?"
		sb_wait_for eval "! test -e '$P' && ! test -L '$P'" || fail "$mode/$how: $P left behind"
	done

	# chmod, chown, stat, unlink of the long path
	P=$(sb_long_path "modes-$mode.sock" 170)
	shim_bg "$T/srv.out" "${SHIMMED[@]}" socat UNIX-LISTEN:"$P",fork EXEC:cat
	srv=$SHIM_BG_PID
	sb_wait_for test -S "$P" || fail "$mode: socat did not listen at $P"
	assert_eq "$(stat -L -c %F "$P")" socket "$mode: stat"
	chmod 0600 "$P" || fail "$mode: chmod"
	assert_eq "$(stat -L -c %a "$P")" 600 "$mode: the mode after chmod"
	if [ "$(id -u)" = 0 ]; then
		if echo x | $SB_NOBODY env LD_PRELOAD="$SB_SHIM" socat -t2 - UNIX-CONNECT:"$P" \
			>/dev/null 2>&1; then
			fail "$mode: nobody connected to a 0600 socket of root"
		fi
		chown 65534 "$P" || fail "$mode: chown"
		assert_eq "$(stat -L -c %u "$P")" 65534 "$mode: the owner after chown"
		out=$(echo ping | $SB_NOBODY env LD_PRELOAD="$SB_SHIM" socat -t2 - UNIX-CONNECT:"$P") ||
			fail "$mode: nobody cannot connect after chown"
		assert_eq "$out" ping "$mode: echo to nobody"
	fi
	shimmed rm "$P" || fail "$mode: rm $P"
	! test -e "$P" && ! test -L "$P" || fail "$mode: $P is still there"
	if [ $mode = broker ]; then
		sb_wait_for eval "! '$SOCKBROKER' list | grep -q modes-$mode" ||
			fail "$mode: the entry stays after rm"
	fi
	kill $srv
	wait $srv

	# swtpm sets the mode of its socket (mode=)
	if command -v swtpm >/dev/null; then
		C=$(sb_long_path "tpm-mode-$mode.sock" 165)
		mkdir -p "$T/tpm-$mode"
		shim_bg "$T/tpm.out" "${SHIMMED[@]}" swtpm socket --tpm2 --tpmstate dir="$T/tpm-$mode" \
			--ctrl type=unixio,path="$C",mode=0640 --flags not-need-init
		tpm=$SHIM_BG_PID
		sb_wait_for test -S "$C" || fail "$mode: swtpm did not listen at $C"
		# swtpm binds, then chmods (then listens): the socket exists a
		# moment with the umask's mode before mode= reaches it
		sb_wait_for eval '[ "$(stat -L -c %a "$C")" = 640 ]'
		assert_eq "$(stat -L -c %a "$C")" 640 "$mode: swtpm mode="
		kill $tpm
		wait $tpm
	fi
done
exit 0
