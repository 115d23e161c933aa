#!/bin/bash
# SPDX-License-Identifier: ISC
# Malformed, truncated, oversized, wrong-version and reply-type messages,
# stray and extra fds: each gets an error (where one can be sent) and the
# connection is dropped; another client keeps being served; no fd leaks.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
export PYTHONPATH="$top_srcdir/tests"
python3 "$top_srcdir/tests/daemon-bad.py" "$SB_PID" || fail "bad requests"
kill -0 "$SB_PID" || fail "the broker died"
grep -q 'does not read its replies' "$T/broker.log" || fail "no log of the dropped reader"
sb_stop
