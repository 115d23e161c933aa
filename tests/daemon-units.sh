#!/bin/bash
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
exit 0
