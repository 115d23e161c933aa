#!/bin/bash
# SPDX-License-Identifier: ISC
# The systemd units (system and user) pass systemd-analyze verify.
. "$top_srcdir/tests/lib.sh"
need systemd-analyze

verify() {	# verify DIR [--user]
	local out
	out=$(cd "$1" && XDG_RUNTIME_DIR=$T/run systemd-analyze $2 verify --man=no \
		./sockbrokerd.socket ./sockbrokerd.service 2>&1)
	local rc=$?
	case "$out" in
	*"Failed to initialize manager"*|*"Failed to lookup"*|*"Operation not permitted"*)
		skip "systemd-analyze cannot run here: $out" ;;
	esac
	[ "$rc" -eq 0 ] && [ -z "$out" ] || fail "systemd-analyze $2 verify: $out"
}

mkdir -p "$T/system" "$T/user" "$T/run"
chmod 700 "$T/run"
for f in sockbrokerd.socket sockbrokerd.service; do
	for d in system user; do
		src=$top_builddir/systemd/$f
		[ "$d" = user ] && src=$top_builddir/systemd/user/$f
		[ -f "$src" ] || fail "$src was not built"
		# the installed binary does not exist yet: point at the built one
		sed "s|^ExecStart=[^ ]*sockbrokerd|ExecStart=$SOCKBROKERD|" "$src" >"$T/$d/$f"
	done
done
grep -q '^Type=notify' "$T/system/sockbrokerd.service" || fail "Type=notify"
grep -q '^FileDescriptorName=control' "$T/system/sockbrokerd.socket" || fail "FileDescriptorName"
verify "$T/system" ""
verify "$T/user" --user

# Options come from an EnvironmentFile (Debian's /etc/default convention):
# the file is optional ("-"), and $SOCKBROKERD_OPTS is split into words on
# the broker's command line, as systemd does with an unbraced $VAR.
envfile=$(sed -n 's/^EnvironmentFile=-//p' "$T/system/sockbrokerd.service")
assert_eq "$envfile" "$SB_SYSCONFDIR/default/sockbrokerd" "the system unit's EnvironmentFile"
assert_eq "$(sed -n 's/^EnvironmentFile=-//p' "$T/user/sockbrokerd.service")" \
	"%E/sockbrokerd" "the user unit's EnvironmentFile"
for d in system user; do
	exec_start=$(sed -n 's/^ExecStart=//p' "$T/$d/sockbrokerd.service")
	case "$exec_start" in
	*' $SOCKBROKERD_OPTS') ;;
	*) fail "$d unit: ExecStart does not pass \$SOCKBROKERD_OPTS: $exec_start" ;;
	esac
	printf '# options\nSOCKBROKERD_OPTS="--max-clients 7 --version"\n' >"$T/default"
	out=$(set -a; . "$T/default"; eval "set -- ${exec_start%' $SOCKBROKERD_OPTS'}";
		"$@" $SOCKBROKERD_OPTS) || fail "$d unit: the broker with the options of the file"
	assert_contains "$out" "sockbrokerd " "$d unit: the options of the file reach the broker"
done
exit 0
