#!/bin/bash
# SPDX-License-Identifier: ISC
# A peer's test suite under the shim: GLib's installed socket tests
# (Debian's libglib2.0-tests: GSocket, GSocketListener, GSocketService,
# GUnixFDList, unix streams, credentials, GDBus peer-to-peer over unix
# sockets) give the same TAP results, test by test, with the shim
# preloaded in broker mode and a broker running as without it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
G=${SB_PEERS_GLIB:-/usr/libexec/installed-tests/glib}
[ -x "$G/socket" ] || skip "no GLib installed tests in $G (libglib2.0-tests)"
shim_mode broker

# results FILE: "ok NAME" / "not ok NAME" per test, numbers and timings dropped
results() { sed -n 's/^\(\(not \)\{0,1\}ok\) [0-9]* \(.*\)$/\1 \3/p' "$1"; }

n=0
for t in socket socket-address socket-listener socket-service unix-fd unix-streams \
	credentials gdbus-peer; do
	[ -x "$G/$t" ] || continue
	mkdir -p "$T/glib-$t"
	(cd "$T/glib-$t" && TMPDIR="$T/glib-$t" timeout 300 "$G/$t" --tap) >"$T/$t.native" 2>&1
	rn=$?
	(cd "$T/glib-$t" && TMPDIR="$T/glib-$t" timeout 300 "${SHIMMED[@]}" "$G/$t" --tap) \
		>"$T/$t.shimmed" 2>&1
	rs=$?
	[ "$rs" = "$rn" ] || fail "GLib $t: exit status $rs with the shim, $rn without: $(tail -5 "$T/$t.shimmed")"
	results "$T/$t.native" >"$T/$t.native.r"
	results "$T/$t.shimmed" >"$T/$t.shimmed.r"
	[ -s "$T/$t.native.r" ] || fail "GLib $t: no TAP results: $(tail -3 "$T/$t.native")"
	if ! cmp -s "$T/$t.native.r" "$T/$t.shimmed.r"; then
		diff -u "$T/$t.native.r" "$T/$t.shimmed.r" >&2
		fail "GLib $t: the results differ with the shim"
	fi
	n=$((n + $(wc -l <"$T/$t.shimmed.r")))
done
sb_log "GLib: $n test results, the same with the shim"
exit 0
