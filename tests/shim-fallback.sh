#!/bin/bash
# SPDX-License-Identifier: ISC
# The connect fallback (a server that does not use the broker listens at
# the long path itself) runs without the shim's lock and with the
# program's own signal mask: a blocking connect there can be interrupted
# by a signal (EINTR), and its handler, or another thread, may connect
# meanwhile (shim-fallback.py; under valgrind with SB_VALGRIND=1).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need python3
shim_mode broker
L=$(sb_long_path "fallback.sock" 160)
S=$(shim_short "$L")
# the interpreter itself, not a wrapper script (valgrind would judge the shell)
PY=$(python3 -c 'import sys; print(sys.executable)')
[ -n "$S" ] || fail "no short path for $L: $(cat "$T/shim.log" 2>/dev/null)"
SOCKBROKER_SHIM_KEYS=$L shimmed_vg "$PY" "$top_srcdir/tests/shim-fallback.py" "$L" "$S" ||
	fail "the connect fallback"
