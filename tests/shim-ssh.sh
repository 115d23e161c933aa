#!/bin/bash
# SPDX-License-Identifier: ISC
# OpenSSH's ControlMaster on a 160-byte ControlPath under the shim, broker
# mode (ssh closes every fd above 2 at start, the shim's directory fds
# too: direct mode cannot serve it, a documented limit): ssh binds a temporary name beside the control path,
# listens, link()s it into place and unlinks the temporary name. A second
# ssh runs a command through the master (a mux client on the long path),
# -O check and -O exit work, and nothing is left at the long path after.
# Against a real sshd on 127.0.0.1 with its own host key and an
# authorized key (as root, sshd runs in a private mount namespace with a
# tmpfs over /run, for its privilege separation directory).
if [ -z "${SB_IN_NS:-}" ] && [ "$(id -u)" = 0 ]; then
	if unshare -m --propagation private true 2>/dev/null; then
		SB_IN_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
	fi
	echo "SKIP: root without a mount namespace (sshd needs /run/sshd)" >&2
	exit 77
fi
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need ssh ssh-keygen
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$SSHD" ] || skip "sshd is not installed (openssh-server)"
USER_NAME=$(id -un)
case $(getent passwd "$USER_NAME" | cut -d: -f7) in
*nologin|*false) skip "$USER_NAME has no login shell" ;;
esac
if [ "$(id -u)" = 0 ]; then
	mount -t tmpfs -o mode=0755 tmpfs /run || skip "cannot mount a tmpfs on /run"
	mkdir -m 0755 /run/sshd
fi

ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" || fail "ssh-keygen (host)"
ssh-keygen -q -t ed25519 -N '' -f "$T/id" || fail "ssh-keygen (user)"
cp "$T/id.pub" "$T/authorized_keys"
chmod 600 "$T/authorized_keys"
for try in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 30000))
	cat >"$T/sshd_config" <<-CONF
		ListenAddress 127.0.0.1:$PORT
		HostKey $T/hostkey
		AuthorizedKeysFile $T/authorized_keys
		PidFile $T/sshd.pid
		StrictModes no
		UsePAM no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PermitRootLogin prohibit-password
		Subsystem sftp internal-sftp
	CONF
	"$SSHD" -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
	sshd=$!
	sb_bg $sshd
	sb_wait_for grep -q "Server listening" "$T/sshd.log" && break
	kill $sshd 2>/dev/null
	wait $sshd 2>/dev/null
	sshd=
done
[ -n "$sshd" ] || fail "sshd did not start: $(tail -3 "$T/sshd.log")"

SSH=(ssh -F /dev/null -i "$T/id" -o IdentitiesOnly=yes -o BatchMode=yes
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$PORT")

for mode in broker; do
	shim_mode $mode
	sb_log "mode $mode"
	C=$(sb_long_path "ssh-ctl-$mode" 160)
	"${SHIMMED[@]}" "${SSH[@]}" -M -S "$C" -N "$USER_NAME@127.0.0.1" 2>"$T/master.err" &
	master=$!
	sb_bg $master
	sb_wait_for test -S "$C" || fail "$mode: no control socket at $C: $(cat "$T/master.err")"
	ls "$(dirname "$C")" | grep -q "ssh-ctl-$mode\." && fail "$mode: the temporary name is left"
	out=$(shimmed "${SSH[@]}" -S "$C" -O check "$USER_NAME@127.0.0.1" 2>&1) ||
		fail "$mode: -O check: $out"
	assert_contains "$out" "Master running" "$mode: -O check"
	out=$(shimmed "${SSH[@]}" -S "$C" "$USER_NAME@127.0.0.1" echo "through-$mode" 2>&1) ||
		fail "$mode: a command through the master: $out"
	assert_eq "$out" "through-$mode" "$mode: a command through the master"
	shimmed "${SSH[@]}" -S "$C" -O exit "$USER_NAME@127.0.0.1" >/dev/null 2>&1 ||
		fail "$mode: -O exit"
	wait $master
	sb_wait_for eval "! test -e '$C' && ! test -L '$C'" || fail "$mode: $C left behind"
done
exit 0
