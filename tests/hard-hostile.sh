#!/bin/bash
# SPDX-License-Identifier: ISC
# Hostile clients (hard-hostile.py): malformed and oversized messages,
# other versions, too many fds and fds of the wrong kind, clients that
# stall; the broker's fds and VmRSS back to their baseline after each.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start --client-timeout 1
export T
python3 "$top_srcdir/tests/hard-hostile.py" "$SB_PID" || fail "hostile clients"
kill -0 "$SB_PID" || fail "the broker died"
grep -q 'did not read its last reply' "$T/broker.log" ||
	fail "no log of the client that did not read its last reply"
sb_stop
