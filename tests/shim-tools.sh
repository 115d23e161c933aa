#!/bin/bash
# SPDX-License-Identifier: ISC
# Everyday servers and clients given 150+ byte socket paths under the
# shim, with the rules shipped in rewrite.d, in broker and direct mode,
# each proven end to end:
#   tmux -S LONG (new-session, then list-sessions from a second client)
#   curl --unix-socket LONG (an HTTP reply from python3 http.server)
#   nc -lU LONG / nc -U LONG (a line each way)
#   redis-server --unixsocket LONG / redis-cli -s LONG (PING)
#   socat UNIX-RECVFROM:P1 / UNIX-SENDTO:P1,bind=P2 (a datagram and its reply)
#   dbus-daemon --address=unix:path=LONG / dbus-send (ListNames)
#   a statically linked client under sockbroker exec, given an existing
#   long socket path (shim-prog-static call LONG)
# A program that is not installed is skipped, with a line in the log.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need socat

have() { command -v "$1" >/dev/null 2>&1 || { sb_log "$1 is not installed: skipped"; return 1; }; }
gone() { ! test -e "$1" && ! test -L "$1"; }

# python3 http.server on TCP behind a unix socket would not test curl's
# side only; it serves on the socket itself through socat's fork.
HTTP_PORT=
if have python3; then
	mkdir -p "$T/www"
	echo "hello from http.server" >"$T/www/index.html"
	# -u: its "Serving HTTP on ... port N" line must reach the file now, not
	# at exit (a pipe or file is block-buffered unless PYTHONUNBUFFERED is set)
	python3 -u -m http.server --bind 127.0.0.1 --directory "$T/www" 0 >"$T/http.out" 2>&1 &
	sb_bg $!
	sb_wait_for grep -q "port" "$T/http.out" || fail "http.server did not start"
	HTTP_PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/http.out" | head -1)
fi

for mode in broker direct; do
	shim_mode $mode
	sb_log "mode $mode"

	if have tmux; then
		S=$(sb_long_path "tmux-$mode" 160)
		# SHELL: tmux runs the session's command with it, else with the
		# user's login shell, which is nologin for a build user like nobody
		# (the session would end at once, and the server with it)
		SHELL=/bin/sh shimmed tmux -S "$S" -f /dev/null new-session -d -s "sess-$mode" "sleep 60" ||
			fail "$mode: tmux new-session: $(tail -3 "$T/shim.log")"
		test -S "$S" || fail "$mode: no tmux socket at $S"
		out=$(shimmed tmux -S "$S" list-sessions -F '#{session_name}') ||
			fail "$mode: tmux list-sessions"
		assert_eq "$out" "sess-$mode" "$mode: tmux list-sessions"
		shimmed tmux -S "$S" kill-server || fail "$mode: tmux kill-server"
		# direct mode: the tmux server closes the fds it did not open (the
		# shim's directory fd), so it cannot unlink /proc/self/fd/N/NAME:
		# a documented limit of direct mode
		if [ $mode = broker ]; then
			sb_wait_for gone "$S" || fail "$mode: $S is left behind after kill-server"
		fi
	fi

	if have curl && [ -n "$HTTP_PORT" ]; then
		C=$(sb_long_path "http-$mode.sock" 160)
		shim_bg "$T/socat.out" "${SHIMMED[@]}" socat UNIX-LISTEN:"$C",fork \
			TCP:127.0.0.1:"$HTTP_PORT"
		srv=$SHIM_BG_PID
		sb_wait_for test -S "$C" || fail "$mode: no socket at $C"
		out=$(shimmed curl -sS --max-time 5 --unix-socket "$C" http://localhost/index.html) ||
			fail "$mode: curl: $out"
		assert_eq "$out" "hello from http.server" "$mode: curl"
		kill $srv
		wait $srv
	fi

	if have nc && nc -h 2>&1 | grep -q -- -U; then
		N=$(sb_long_path "nc-$mode.sock" 160)
		mkfifo "$T/nc.in"
		exec 8<>"$T/nc.in"
		"${SHIMMED[@]}" nc -lU "$N" <"$T/nc.in" >"$T/nc.out" 2>>"$T/shim.log" &
		srv=$!
		sb_bg $srv
		sb_wait_for test -S "$N" || fail "$mode: nc -lU did not listen at $N"
		echo "from-server-$mode" >&8
		out=$(echo "from-client-$mode" | shimmed timeout 5 nc -N -U "$N") ||
			fail "$mode: nc -U: $(tail -3 "$T/shim.log")"
		assert_eq "$out" "from-server-$mode" "$mode: nc -U got the server's line"
		exec 8>&-
		wait $srv
		assert_eq "$(cat "$T/nc.out")" "from-client-$mode" "$mode: nc -lU got the client's line"
		rm -f "$T/nc.in" "$N"
	fi

	if have redis-server && have redis-cli; then
		R=$(sb_long_path "redis-$mode.sock" 160)
		shim_bg "$T/redis.out" "${SHIMMED[@]}" redis-server --port 0 --unixsocket "$R" \
			--save '' --appendonly no --dir "$T"
		srv=$SHIM_BG_PID
		sb_wait_for test -S "$R" || fail "$mode: redis-server did not listen at $R: $(tail -5 "$T/redis.out")"
		out=$(shimmed redis-cli -s "$R" ping) || fail "$mode: redis-cli -s"
		assert_eq "$out" PONG "$mode: redis PING"
		shimmed redis-cli -s "$R" shutdown nosave >/dev/null 2>&1
		wait $srv
		sb_wait_for gone "$R" || fail "$mode: $R left behind after shutdown"
	fi

	# two paths in one socat address: the bind= one is the reply address
	P1=$(sb_long_path "dgram-srv-$mode.sock" 160)
	P2=$(sb_long_path "dgram-cli-$mode.sock" 161)
	shim_bg "$T/dg.out" "${SHIMMED[@]}" socat UNIX-RECVFROM:"$P1" SYSTEM:'read l; echo "re:$l"'
	srv=$SHIM_BG_PID
	sb_wait_for test -S "$P1" || fail "$mode: no datagram socket at $P1"
	out=$(echo "dgram-$mode" | shimmed socat -t2 - UNIX-SENDTO:"$P1",bind="$P2") ||
		fail "$mode: socat UNIX-SENDTO,bind: $(tail -3 "$T/shim.log")"
	assert_eq "$out" "re:dgram-$mode" "$mode: the reply came back to bind=$P2"
	wait $srv
	rm -f "$P1" "$P2"

	# a statically linked client (the preload cannot reach it) given an
	# existing long socket path: sockbroker exec rewrites its argument
	if [ -x "$SHIM_PROG_STATIC" ]; then
		X=$(sb_long_path "static-$mode.sock" 160)
		shim_bg "$T/x.out" "${SHIMMED[@]}" socat UNIX-LISTEN:"$X" EXEC:cat
		srv=$SHIM_BG_PID
		sb_wait_for test -S "$X" || fail "$mode: no socket at $X"
		out=$(SOCKBROKER_SHIM="$SB_SHIM" "$SOCKBROKER" exec --mode $mode -- \
			"$SHIM_PROG_STATIC" call "$X" "static-$mode") ||
			fail "$mode: the static client: $(tail -3 "$T/shim.log")"
		assert_eq "$out" "static-$mode" "$mode: a static client through sockbroker exec"
		wait $srv
	fi

	if have dbus-daemon && have dbus-send; then
		B=$(sb_long_path "dbus-$mode.sock" 160)
		cat >"$T/bus.conf" <<-EOF
		<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
		 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
		<busconfig>
		  <type>session</type>
		  <listen>unix:path=$B</listen>
		  <auth>EXTERNAL</auth>
		  <policy context="default">
		    <allow send_destination="*" eavesdrop="true"/>
		    <allow eavesdrop="true"/>
		    <allow own="*"/>
		  </policy>
		</busconfig>
		EOF
		shim_bg "$T/dbus.out" "${SHIMMED[@]}" dbus-daemon --config-file="$T/bus.conf" \
			--address=unix:path="$B" --nofork --print-address
		srv=$SHIM_BG_PID
		# --print-address writes the address once the bus listens; the
		# socket exists from bind(), before listen(): a connect then is
		# refused (seen in direct mode on a loaded machine)
		sb_wait_for grep -q 'unix:' "$T/dbus.out" ||
			fail "$mode: dbus-daemon gave no address: $(tail -3 "$T/shim.log")"
		test -S "$B" || fail "$mode: dbus-daemon did not listen at $B: $(tail -3 "$T/shim.log")"
		out=$(shimmed dbus-send --bus=unix:path="$B" --dest=org.freedesktop.DBus --print-reply \
			--type=method_call /org/freedesktop/DBus org.freedesktop.DBus.ListNames) ||
			fail "$mode: dbus-send ListNames: $(tail -3 "$T/shim.log")"
		assert_contains "$out" '"org.freedesktop.DBus"' "$mode: ListNames"
		kill $srv
		wait $srv
	fi
done
exit 0
