#!/bin/bash
# SPDX-License-Identifier: ISC
# Which put fds go to the service manager's fd store: systemd v252 closes a
# stored fd synchronously in PID 1 (and could not poll a regular file), so a
# user's lingering TCP socket must never get there. A python harness plays
# the notify socket; uid 65534 puts a TCP socket, a regular file, a pipe and
# an AF_UNIX socket: only the pipe and the AF_UNIX socket are stored, and
# all four can still be got from the broker (root's fds are all stored).
. "$top_srcdir/tests/lib.sh"
need python3 setpriv
[ "$(id -u)" = 0 ] || skip "needs root (a second uid)"
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD
python3 "$top_srcdir/tests/daemon-fdstore-kinds.py" || fail "fd store kinds"
