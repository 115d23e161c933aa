#!/bin/bash
# SPDX-License-Identifier: ISC
# A peer's test suite under the shim (`make check-peers`, not part of
# `make check`): CPython's own socket, subprocess, os and asyncio tests
# (Debian's libpython3.11-testsuite) give the same result, test case by
# test case, with the shim preloaded in broker mode and a broker running
# as without it. Each run writes a JUnit report; peers-junit.py compares
# them. The AF_VSOCK tests are left out of both runs: on a VM with a vsock
# device they wait for a peer that never comes.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
PY=${SB_PEERS_PYTHON:-/usr/bin/python3}
TESTS_PY=${SB_PEERS_TESTS:-test_socket test_subprocess test_os test_asyncio}
"$PY" -c 'import test.support, test.libregrtest' 2>/dev/null ||
	skip "no CPython test suite for $PY (libpython3.11-testsuite)"
shim_mode broker

run_suite() {
	local name=$1
	shift
	# its own temporary directory and home: the two runs see the same state
	mkdir -p "$T/$name/tmp"
	(cd "$T/$name" && env TMPDIR="$T/$name/tmp" "$@" "$PY" -m test -i '*VSOCK*' \
		--timeout 900 --junit-xml "$T/$name.xml" $TESTS_PY) >"$T/$name.log" 2>&1
	tail -n 3 "$T/$name.log" | sed "s/^/# $name: /" >&2
	[ -s "$T/$name.xml" ] || fail "$name: no JUnit report: $(tail -5 "$T/$name.log")"
}

run_suite native
run_suite shimmed LD_PRELOAD="$SB_SHIM" SOCKBROKER_MODE=broker
"$PY" "$top_srcdir/tests/peers-junit.py" "$T/native.xml" "$T/shimmed.xml" >"$T/diff" ||
	{ cat "$T/diff" >&2; fail "the suite's results differ with the shim"; }
sed "s/^/# /" "$T/diff" >&2
exit 0
