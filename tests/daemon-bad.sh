#!/bin/bash
# SPDX-License-Identifier: ISC
# Malformed, truncated, oversized, wrong-version and reply-type messages,
# stray and extra fds: each gets an error (where one can be sent) and the
# connection is dropped; another client keeps being served; no fd leaks.
# A --subuid file without ranges starts the broker as an absent one does.
. "$top_srcdir/tests/lib.sh"
need python3

# A subordinate-uid file with no range in it (a fresh machine's empty
# /etc/subuid, comments, lines that are not ranges) is no range at all.
: >"$T/subuid.empty"
printf '# none\n\nbad\nx:1\nroot:-1:5\nu:10:0\n' >"$T/subuid.junk"
for f in empty junk; do
	sb_start --subuid "$T/subuid.$f"
	sb_stop
done

sb_start
export PYTHONPATH="$top_srcdir/tests"
python3 "$top_srcdir/tests/daemon-bad.py" "$SB_PID" || fail "bad requests"
kill -0 "$SB_PID" || fail "the broker died"
grep -q 'does not read its replies' "$T/broker.log" || fail "no log of the dropped reader"
sb_stop
