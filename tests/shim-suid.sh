#!/bin/bash
# SPDX-License-Identifier: ISC
# The shim in a setuid-root program (sockbroker-shim(8), "Setuid
# programs"): /etc/ld.so.preload reaches programs that run with more
# privilege than their caller (AT_SECURE), and there the shim must pass
# everything through: no rewritten argument, no broker asked, no
# SOCKBROKER_* variable honoured. shim-suid.py runs a setuid-root copy of
# tests/shim-suid as uid 65534 with the shim in ld.so.preload (an overlay
# on /etc in a private mount namespace) and an attacker's environment.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace, a setuid-root program)"
need unshare python3 mount
unshare -m true 2>/dev/null || skip "unshare -m is not allowed here"
HELPER="$top_builddir/tests/shim-suid"
[ -x "$HELPER" ] || fail "no $HELPER"
# valgrind cannot run a setuid program: this test never uses it
SHIM_ABS=$(readlink -f "$SB_SHIM")
unshare -m --propagation private python3 "$top_srcdir/tests/shim-suid.py" \
	"$SHIM_ABS" "$HELPER" "$T" "$top_srcdir/shims/rewrite.d" "$SB_SYSCONFDIR"
