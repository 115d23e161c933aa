#!/bin/bash
# SPDX-License-Identifier: ISC
# Daemons that bind, fork and let the parent exit keep their socket (broker
# mode, paths of 150+ bytes): a classic double-fork daemon (shim-prog
# daemon), dbus-daemon --fork, redis-server --daemonize yes. The owner
# entry outlives the binding process while another process holds the
# socket (also across a broker restart), and goes (entry, short
# directory) when the last holder is killed, even with kill -9.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"
shim_mode broker

# entry_gone LONG SHORT: wait until the broker dropped the entry of LONG and
# the link at LONG is gone
entry_gone() {
	sb_wait_for eval "! test -e '$2' && ! test -L '$1' && ! '$SOCKBROKER' resolve '$1'"
}

# a classic double fork: the parent that bound and the first child exit
P=$(sb_long_path "daemon.sock" 160)
S=$(shim_short "$P")
pid=$(shimmed_vg "$SHIM_PROG" daemon "$P" 2>>"$T/shim.log") || fail "daemon: start: $(tail -3 "$T/shim.log")"
[ -n "$pid" ] && kill -0 "$pid" || fail "daemon: no grandchild ($pid)"
sb_bg "$pid"
out=$(shimmed "$SHIM_PROG" call "$P" after-the-parent-exited 2>>"$T/shim.log") ||
	fail "daemon: no answer once its parent exited: $(tail -3 "$T/shim.log")"
assert_eq "$out" after-the-parent-exited "the grandchild answers on the socket its grandparent bound"
"$SOCKBROKER" list >"$T/list" || fail "sockbroker list"
assert_contains "$(cat "$T/list")" "$S" "the entry outlives its creator"
# another server cannot bind the path while the daemon holds it (natively:
# the socket file is there); one that unlinks the path first may, as natively
out=$(timeout 30 "${SHIMMED[@]}" "$SHIM_PROG" bind "$P" 2>>"$T/shim.log")
assert_eq "$out" "bind EADDRINUSE" "a second server's bind"
# a broker restart keeps it: the creator is gone, the socket is not
sb_stop
sb_start
"$SOCKBROKER" list >"$T/list" || fail "sockbroker list"
assert_contains "$(cat "$T/list")" "$S" "the entry is kept across a broker restart"
out=$(shimmed "$SHIM_PROG" call "$P" after-a-restart 2>>"$T/shim.log") || fail "daemon: after a restart"
assert_eq "$out" after-a-restart "the daemon answers after a broker restart"
kill -KILL "$pid"
entry_gone "$P" "$S" || fail "daemon: the entry stayed after its last holder was killed"

# dbus-daemon --fork: prints its address, the parent exits, clients connect
if command -v dbus-daemon >/dev/null && command -v dbus-send >/dev/null; then
	B=$(sb_long_path "dbus/bus" 160)
	mkdir -p "$(dirname "$B")"
	BS=$(shim_short "$B")
	export SOCKBROKER_REWRITE='prefix:--address=unix:path=;prefix:--bus=unix:path='
	shimmed_vg dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=3 \
		--address="unix:path=$B" >"$T/dbus.addr" 3>"$T/dbus.pid" 2>>"$T/shim.log" ||
		fail "dbus-daemon --fork failed: $(tail -3 "$T/shim.log")"
	dpid=$(cat "$T/dbus.pid")
	sb_bg "$dpid"
	assert_contains "$(cat "$T/dbus.addr")" "unix:path=$BS" "dbus-daemon's address"
	out=$(shimmed dbus-send --bus="unix:path=$B" --print-reply --dest=org.freedesktop.DBus \
		/org/freedesktop/DBus org.freedesktop.DBus.GetId 2>&1) ||
		fail "dbus-send to the forked bus: $out"
	assert_contains "$out" string "dbus-daemon --fork answers"
	kill -KILL "$dpid"
	entry_gone "$B" "$BS" || fail "dbus: the entry stayed after kill -9"
	unset SOCKBROKER_REWRITE
else
	sb_log "no dbus-daemon: skipped that part"
fi

# redis-server --daemonize yes
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	R=$(sb_long_path "redis.sock" 160)
	RS=$(shim_short "$R")
	# (not under valgrind: redis-server's own allocations at exit would be reported)
	SOCKBROKER_REWRITE='opt:--unixsocket' shimmed redis-server --daemonize yes --port 0 \
		--unixsocket "$R" --pidfile "$T/redis.pid" --logfile "$T/redis.log" --dir "$T" \
		--save '' 2>>"$T/shim.log" || fail "redis-server --daemonize failed"
	sb_wait_for test -s "$T/redis.pid" || fail "redis: no pid file"
	rpid=$(cat "$T/redis.pid")
	sb_bg "$rpid"
	out=$(shim_try "$T/redis.out" shimmed redis-cli -s "$R" ping && cat "$T/redis.out") ||
		fail "redis-cli ping: $(tail -3 "$T/redis.log")"
	assert_eq "$out" PONG "redis-server --daemonize yes answers"
	kill -KILL "$rpid"
	entry_gone "$R" "$RS" || fail "redis: the entry stayed after kill -9"
else
	sb_log "no redis-server: skipped that part"
fi
exit 0
