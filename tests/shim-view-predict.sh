#!/bin/bash
# SPDX-License-Identifier: ISC
# The short path handed to a program before main (the shim's argv rewrite,
# sockbroker exec's for a static program) is the one of the program's own
# view: in a private mount namespace, as uid 65534, a static client never
# gets the host's claim of the same string, a server binding a temporary
# name beside it (first claim there, view 1) works, and each view's
# clients reach their own view's server only. shim-view-predict.py.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need python3 setpriv unshare nsenter mount socat
[ "$(id -u)" = 0 ] || skip "needs root (mount namespaces, another uid)"
unshare -m true 2>/dev/null || skip "cannot make a mount namespace here"
[ -x "$SHIM_PROG_STATIC" ] || skip "no static test program ($SHIM_PROG_STATIC)"
export SOCKBROKER_MODE=broker
sb_start
export PYTHONPATH="$top_srcdir/tests" SOCKBROKER T SB_SHIM SHIM_PROG SHIM_PROG_STATIC
python3 "$top_srcdir/tests/shim-view-predict.py" ||
	fail "a program was handed another view's short path (log: $T/shim.log)"
