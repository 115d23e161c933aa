#!/bin/bash
# SPDX-License-Identifier: ISC
# On-demand start: with no broker answering, the library starts one
# (detached, --idle-exit), and clients racing to start it start one only.
. "$top_srcdir/tests/lib.sh"

# this test is about the defaults: lib.sh turns autostart off for the others
unset SOCKBROKER_AUTOSTART
AROOT="$T/auto"
export SOCKBROKER_ROOT="$AROOT"

brokers() { pgrep -f -x "sockbrokerd --root $AROOT --ready-fd 3 --idle-exit [0-9]*" | wc -l; }
stop_brokers() {
	pkill -f -x "sockbrokerd --root $AROOT --ready-fd 3 --idle-exit [0-9]*"
	sb_wait_for eval '[ "$(brokers)" -eq 0 ]' || fail "the on-demand broker did not stop"
}
trap 'stop_brokers 2>/dev/null; _sb_cleanup' EXIT

# told not to: nothing is started, the error says there is no broker
SOCKBROKER_AUTOSTART=0 "$SOCKBROKER" status >"$T/out" 2>&1
assert_eq "$?" 111 "status without a broker, autostart off"
assert_eq "$(brokers)" 0 "brokers started with SOCKBROKER_AUTOSTART=0"

# root's default is off as well (its broker is a system service)
if [ "$(id -u)" = 0 ]; then
	"$SOCKBROKER" status >/dev/null 2>&1 && fail "root started a broker without SOCKBROKER_AUTOSTART=1"
	assert_eq "$(brokers)" 0 "brokers started by root by default"
fi

# eight clients race to start it: all are served, one broker runs
export SOCKBROKER_AUTOSTART=1
pids=
for i in 1 2 3 4 5 6 7 8; do
	"$SOCKBROKER" status >"$T/status.$i" 2>&1 &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "a racing client failed: $(cat "$T"/status.* | sort -u)"
done
assert_eq "$(brokers)" 1 "brokers running after the race"
bpid=$(pgrep -f -x "sockbrokerd --root $AROOT --ready-fd 3 --idle-exit [0-9]*")
# detached: a session of its own, no client's child
[ "$(ps -o sid= -p "$bpid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] ||
	fail "the on-demand broker is in the test's session"

# and it is a working broker
short=$("$SOCKBROKER" bind demand --listen) || fail "bind on the on-demand broker"
[ -S "$short" ] || fail "no socket at $short"
"$SOCKBROKER" release demand || fail "release"

# idle exit, then the next client starts it again
stop_brokers
SOCKBROKER_IDLE_EXIT=2 "$SOCKBROKER" status >/dev/null || fail "status after the broker stopped"
assert_eq "$(brokers)" 1 "brokers after a restart on demand"
sb_wait_for eval '[ "$(brokers)" -eq 0 ]' || fail "the on-demand broker did not exit when idle"
exit 0
