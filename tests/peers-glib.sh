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

# compare T: one run without the shim and one with it agree (status and
# results); the reason they do not in $why
compare() {
	local t=$1 rn rs
	(cd "$T/glib-$t" && TMPDIR="$T/glib-$t" timeout 300 "$G/$t" --tap) >"$T/$t.native" 2>&1
	rn=$?
	(cd "$T/glib-$t" && TMPDIR="$T/glib-$t" timeout 300 "${SHIMMED[@]}" "$G/$t" --tap) \
		>"$T/$t.shimmed" 2>&1
	rs=$?
	results "$T/$t.native" >"$T/$t.native.r"
	results "$T/$t.shimmed" >"$T/$t.shimmed.r"
	if [ "$rs" != "$rn" ]; then
		why="exit status $rs with the shim, $rn without: $(tail -5 "$T/$t.shimmed")"
		return 1
	fi
	[ -s "$T/$t.native.r" ] || { why="no TAP results: $(tail -3 "$T/$t.native")"; return 1; }
	if ! cmp -s "$T/$t.native.r" "$T/$t.shimmed.r"; then
		why="the results differ with the shim: $(diff "$T/$t.native.r" "$T/$t.shimmed.r" | head -5)"
		return 1
	fi
}

# Some of GLib's tests are themselves timing-sensitive on a loaded machine
# (unix-streams' write-wouldblock has aborted without the shim): a pair of
# runs that disagree is run again, and a test fails only when three pairs
# in a row disagree. A difference the shim causes is there every time.
n=0
for t in socket socket-address socket-listener socket-service unix-fd unix-streams \
	credentials gdbus-peer; do
	[ -x "$G/$t" ] || continue
	mkdir -p "$T/glib-$t"
	ok=
	for try in 1 2 3; do
		why=
		if compare "$t"; then ok=1; break; fi
		sb_log "GLib $t, pair $try: $why"
	done
	[ -n "$ok" ] || fail "GLib $t: $why"
	n=$((n + $(wc -l <"$T/$t.shimmed.r")))
done
sb_log "GLib: $n test results, the same with the shim"
exit 0
