#!/bin/bash
# SPDX-License-Identifier: ISC
# What a client sent before it went is still done: requests queued behind
# a connection reset, behind a reply that could not be sent, and before an
# owner process's exit (tests/daemon-reset.py).
. "$top_srcdir/tests/lib.sh"
need python3
sb_start -v
export PYTHONPATH="$top_srcdir/tests" SB_PID SB_LOG="$T/broker.log"
python3 "$top_srcdir/tests/daemon-reset.py" || fail "requests of clients that went"
sb_still_serves reset-after "clients that went"
