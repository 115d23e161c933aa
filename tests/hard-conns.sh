#!/bin/bash
# SPDX-License-Identifier: ISC
# Many clients and exhausted quotas (hard-conns.py): 1,000 concurrent
# clients against --max-clients, and against a broker short of fds; a uid
# at its entry quota and client cap while other uids are served. The
# broker's fds and VmRSS come back to their baseline after each.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python "a second and a third uid"
export SOCKBROKER="$SOCKBROKER" T
H="$top_srcdir/tests/hard-conns.py"
N=${SB_HARD_CLIENTS:-1000}

ulimit -n $((N + 200)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt "$N" ] || skip "cannot raise the fd limit above $N"

sb_start --max-clients 600
$PY "$H" cap "$SB_PID" "$N" 600 || fail "$N clients against --max-clients 600"
sb_stop

# a broker that runs out of fds before its client cap
(ulimit -n 256 && sb_start && echo "$SB_PID" >"$T/pid" && wait "$SB_PID") &
sb_bg $!
# that broker is the subshell's child: stop it too if a check below fails
trap '[ -s "$T/pid" ] && kill -TERM "$(cat "$T/pid")" 2>/dev/null; _sb_cleanup' EXIT
sb_wait_for test -s "$T/pid" || fail "the broker with 256 fds did not start"
$PY "$H" emfile "$(cat "$T/pid")" "$N" || fail "$N clients against a broker with 256 fds"
grep -q 'refused .* connect: the broker is out of file descriptors' "$T/broker.log" ||
	fail "no log of the refusals for lack of fds"
kill -TERM "$(cat "$T/pid")"

sb_start --max-entries-per-uid 50 --max-clients-per-uid 20
$PY "$H" quota "$SB_PID" 50 20 || fail "quota exhaustion"
sb_stop
