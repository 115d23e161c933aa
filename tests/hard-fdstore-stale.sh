#!/bin/bash
# SPDX-License-Identifier: ISC
# A start after a stop checks the fd store's fds whatever its environment
# says of a re-exec (hard-fdstore-stale.py, with fakesd.py as the manager).
. "$top_srcdir/tests/lib.sh"
need python3
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD
timeout 120 python3 "$top_srcdir/tests/hard-fdstore-stale.py" ||
	fail "a stored fd that is no socket, with a stale SOCKBROKERD_REEXEC_FDS"
exit 0
