#!/bin/bash
# SPDX-License-Identifier: ISC
# uid 65534 gives the broker TCP sockets whose last close blocks (lingering
# for an hour with a full send buffer) and releases them: its closes hang,
# and must cost only uid 65534. Root's 300 fds put and released after it
# are all closed (the broker's fd count comes back), and uid 65534 cannot
# pile up more than the per-uid bound of fds waiting to be closed: it is
# refused with EAGAIN and the broker's fds stay bounded (hard-closer.py).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
export PYTHONPATH="$top_srcdir/tests"
sb_start
base=$(sb_fd_count "$SB_PID")

coproc LINGER { $SB_NOBODY $PY "$top_srcdir/tests/hard-closer.py" hostile 2>&1; }
sb_bg $LINGER_PID
read -r -t 20 line <&"${LINGER[0]}" || fail "the lingering client did not start"
assert_eq "$line" stuck "the lingering client"

# root's fds are closed all the same
$PY "$top_srcdir/tests/hard-closer.py" root || fail "root's puts and releases"
sb_wait_fds_at_most $((base + 4)) ||
	fail "root's fds are not closed behind uid 65534's hung close: $(sb_fd_count "$SB_PID") fds, $base before"
sb_log "root's 300 fds closed: $(sb_fd_count "$SB_PID") fds, $base at start"

echo go >&"${LINGER[1]}"
read -r -t 60 word n <&"${LINGER[0]}" || fail "uid 65534's flood did not end"
assert_eq "$word" refused "uid 65534's fds beyond the bound"
sb_log "uid 65534 refused after $n more fds"
now=$(sb_fd_count "$SB_PID")
[ "$now" -le $((base + 64 + 8)) ] || fail "the broker holds $now fds, $base at start: not bounded"
timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stopped answering"
"$SOCKBROKER" bind after --listen >/dev/null || fail "root's bind after the flood"
exit 0
