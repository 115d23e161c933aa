#!/bin/bash
# SPDX-License-Identifier: ISC
# Restart with nothing lost, systemd style. A python harness plays systemd:
# it owns the control socket, hands it to the broker as LISTEN_FDS, and
# listens on NOTIFY_SOCKET for READY=1, STATUS=, WATCHDOG=1, FDSTORE=1 (with
# the fds) and FDSTOREREMOVE=1. It kills the broker with SIGKILL in the
# middle of a stream of requests and starts it again with the stored fds:
# every acknowledged entry is back with the same short path, a client that
# connected to a held socket before the kill is served after it.
. "$top_srcdir/tests/lib.sh"
need python3
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD

python3 "$top_srcdir/tests/daemon-fdstore.py" || fail "fd store round trip"
exit 0
