#!/bin/bash
# SPDX-License-Identifier: ISC
# The service manager's close of a stored fd is never the last one when
# another uid queued fds whose last close lingers in root's held sockets
# (hard-fdstore-inject.py, with fakesd.py as the manager).
. "$top_srcdir/tests/lib.sh"
need python3 setpriv
[ "$(id -u)" = 0 ] || skip "needs root (a second uid)"
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
$SB_NOBODY /usr/bin/python3 -c '' 2>/dev/null || skip "setpriv cannot run python3 as uid 65534 here"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD
timeout 120 python3 "$top_srcdir/tests/hard-fdstore-inject.py" ||
	fail "the fd store's close of an fd others sent into"
exit 0
