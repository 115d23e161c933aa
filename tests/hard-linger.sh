#!/bin/bash
# SPDX-License-Identifier: ISC
# A client-supplied fd whose last close blocks (a TCP socket lingering for
# an hour with unsent data) must not stall the broker: fds clients send are
# closed on the closer thread, never on the event loop (hard-inject.py
# release).
. "$top_srcdir/tests/lib.sh"
need python3
sb_start

if [ "$(id -u)" = 0 ]; then
	run_as=($SB_NOBODY)
	chmod 755 "$T"
else
	run_as=()
fi
PY3=$(command -v /usr/bin/python3 || command -v python3)
coproc LINGER { "${run_as[@]}" "$PY3" "$top_srcdir/tests/hard-inject.py" release "$ROOT" 2>&1; }
sb_bg $LINGER_PID
read -r -t 20 line <&"${LINGER[0]}" || fail "the lingering client did not start"
assert_eq "$line" sent "the lingering client"

sb_still_serves after-linger "a lingering close"
exit 0
