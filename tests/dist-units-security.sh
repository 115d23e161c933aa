#!/bin/bash
# SPDX-License-Identifier: ISC
# The units are sandboxed like the system's own daemons: systemd-analyze
# security (offline, on the built unit files) rates the system unit and
# the user unit at most MEDIUM (6.9 on its scale of 10; the user unit was
# 8.6 EXPOSED before it was hardened).
. "$top_srcdir/tests/lib.sh"
need systemd-analyze

mkdir -p "$T/run"
chmod 700 "$T/run"
rate() {	# rate UNIT [--user]: print the exposure line, fail above 6.9
	local out rc scope=${2:-}
	# shellcheck disable=SC2086
	out=$(XDG_RUNTIME_DIR=$T/run systemd-analyze security --offline=yes --threshold=69 \
		$scope "$1" 2>&1)
	rc=$?
	case "$out" in
	*"Failed to initialize manager"*|*"Unknown command verb"*|*"unrecognized option"*)
		skip "systemd-analyze security --offline cannot run here: $(printf '%s' "$out" | tail -n 1)" ;;
	esac
	sb_log "${scope:---system} $(printf '%s\n' "$out" | grep 'Overall exposure')"
	[ "$rc" -eq 0 ] || fail "$1 $scope: exposure above MEDIUM: $(printf '%s\n' "$out" | grep -v '^✓' | tail -n 25)"
}
rate "$top_builddir/systemd/sockbrokerd.service"
rate "$top_builddir/systemd/user/sockbrokerd.service" --user
exit 0
