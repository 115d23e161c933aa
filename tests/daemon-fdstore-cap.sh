#!/bin/bash
# SPDX-License-Identifier: ISC
# The fd store is capped: systemd gives stored fds back with their names in
# one variable, LISTEN_FDNAMES, which execve() refuses over 128 KiB, so the
# broker stores at most FDSTORE_MAX fds (fewer if $FDSTORE says so, as
# systemd >= 254 sets it from FileDescriptorStoreMax=). Here FDSTORE=3: the
# fourth held entry gets one warning and is held but not stored; a release
# makes room again; a re-exec keeps every held entry and knows which are
# stored; a restart of the service brings the stored ones back and reports
# and cleans the others.
. "$top_srcdir/tests/lib.sh"
need python3
grep -q 'HAVE_SYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKERD

python3 "$top_srcdir/tests/daemon-fdstore-cap.py" || fail "fd store cap"
exit 0
