#!/bin/bash
# SPDX-License-Identifier: ISC
# Broker mode specifics: the link at the long path, kill -9 of a server
# (owner lifetime: no stale short socket; the restarted server binds
# again), release at exit, a broker that is not there, sockbroker exec.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need socat
shim_mode broker

L=$(sb_long_path "server.sock" 170)
S=$(shim_short "$L")
case "$S" in "$ROOT"/*/*/sock) ;; *) fail "short path '$S' is not under $ROOT" ;; esac

"${SHIMMED[@]}" socat UNIX-LISTEN:"$L",fork EXEC:cat 2>>"$T/shim.log" &
srv=$!
sb_bg $srv
sb_wait_for test -S "$S" || fail "no short socket $S"
[ -L "$L" ] || fail "no link at $L"
assert_eq "$(readlink "$L")" "$S" "the link at the long path"
shim_try "$T/out" bash -c 'echo one | LD_PRELOAD="$1" socat -t30 - UNIX-CONNECT:"$2"' _ "$SB_SHIM" "$L" ||
	fail "connect"
assert_eq "$(cat "$T/out")" one "first server"
"$SOCKBROKER" list >"$T/list" || fail "sockbroker list"
assert_contains "$(cat "$T/list")" "$S" "the entry is listed"

# kill -9: the broker sees the owner die and removes the short socket
kill -KILL $srv
wait $srv 2>/dev/null
sb_wait_for eval "! test -e '$S'" || fail "stale short socket $S after kill -9"
# a restarted server binds the same long path again
"${SHIMMED[@]}" socat UNIX-LISTEN:"$L",fork EXEC:cat 2>>"$T/shim.log" &
srv=$!
sb_bg $srv
sb_wait_for test -S "$S" || fail "restarted server: no short socket: $(tail -3 "$T/shim.log")"
assert_eq "$(readlink "$L")" "$S" "the link after the restart"
shim_try "$T/out" bash -c 'echo two | LD_PRELOAD="$1" socat -t30 - UNIX-CONNECT:"$2"' _ "$SB_SHIM" "$L" ||
	fail "connect to the restarted server"
assert_eq "$(cat "$T/out")" two "restarted server"
# a clean exit unlinks: the entry is released, the link removed
kill -TERM $srv
wait $srv
sb_wait_for eval "! test -e '$S' && ! test -L '$L'" || fail "left behind after a clean exit"

# a client in broker mode reaches a server in direct mode (at the long path)
SOCKBROKER_MODE=direct "${SHIMMED[@]}" socat -u SYSTEM:'echo direct' UNIX-LISTEN:"$L" 2>>"$T/shim.log" &
srv=$!
sb_bg $srv
sb_wait_for test -S "$L" || fail "no direct-mode listener"
shim_try "$T/out" shimmed socat -u UNIX-CONNECT:"$L" - || fail "broker client to direct server"
assert_eq "$(cat "$T/out")" direct "broker client, direct server"
wait $srv

# sockbroker exec (dynamic program): the shim preloaded by the CLI
"$SOCKBROKER" exec --shim "$SB_SHIM" --mode broker -- socat -u SYSTEM:'echo exec' UNIX-LISTEN:"$L" \
	2>>"$T/shim.log" &
srv=$!
sb_bg $srv
sb_wait_for test -S "$S" || fail "sockbroker exec: no short socket"
shim_try "$T/out" "$SOCKBROKER" exec --shim "$SB_SHIM" -- socat -u UNIX-CONNECT:"$L" - ||
	fail "sockbroker exec: connect"
assert_eq "$(cat "$T/out")" exec "sockbroker exec"
wait $srv

# sockbroker exec of a static program: it rewrites the arguments itself
if [ -x "$SHIM_PROG_STATIC" ]; then
	SOCKBROKER_REWRITE=opt:--socket SOCKBROKER_SHIM="$SB_SHIM" \
		"$SOCKBROKER" exec --mode broker -- "$SHIM_PROG_STATIC" --socket "$L" >"$T/static.out" \
		2>>"$T/shim.log" &
	srv=$!
	sb_bg $srv
	shim_wait_line "$T/static.out" ready || fail "static server not ready: $(tail -3 "$T/shim.log")"
	shimmed "$SHIM_PROG" call "$L" static-broker >"$T/out" || fail "call the static server"
	assert_eq "$(cat "$T/out")" static-broker "static program, broker mode"
	wait $srv || fail "static server failed"
fi

# a held entry (sockbroker bind --lifetime hold) hands its listening socket,
# with its queue, to each server that binds the long path: a client that
# connected before the server started is served, the server's unlink does
# not remove the socket, and a killed server's successor gets it again
sb_log "held entry: the listening socket goes from server to server"
H=$(sb_long_path "held.sock" 165)
HS=$("$SOCKBROKER" bind "$H" --listen --lifetime hold) || fail "sockbroker bind --lifetime hold"
[ -S "$HS" ] || fail "no held socket at $HS"
coproc EARLY { echo early | socat -t30 - UNIX-CONNECT:"$HS" 2>&1; }
sb_bg $EARLY_PID
"${SHIMMED[@]}" socat UNIX-LISTEN:"$H",unlink-early,fork EXEC:cat 2>>"$T/shim.log" &
srv=$!
sb_bg $srv
read -r -t 20 line <&"${EARLY[0]}" || fail "the client queued before the server was not served: $(tail -3 "$T/shim.log")"
assert_eq "$line" early "a connection queued on the held socket"
kill -KILL $srv
wait $srv 2>/dev/null
[ -S "$HS" ] || fail "the held socket went with a killed server"
"${SHIMMED[@]}" socat UNIX-LISTEN:"$H",unlink-early,fork EXEC:cat 2>>"$T/shim.log" &
srv=$!
sb_bg $srv
shim_try "$T/out" bash -c 'echo again | LD_PRELOAD="$1" socat -t30 - UNIX-CONNECT:"$2"' _ "$SB_SHIM" "$H" ||
	fail "connect to the next server on the held socket"
assert_eq "$(cat "$T/out")" again "the next server on the held socket"
kill -TERM $srv
wait $srv
[ -S "$HS" ] || fail "a server's unlink at exit removed the held socket"
"$SOCKBROKER" release "$H" || fail "release of the held entry"
sb_wait_for eval "! test -e '$HS' && ! test -L '$H'" || fail "the released held entry is left behind"

# another uid reaches the short socket exactly as it would reach the long
# path: through a directory others may traverse, yes; through a private one, no
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T" "$ROOT" 2>/dev/null
	chmod o+r "$SB_SHIM" 2>/dev/null
	if $SB_NOBODY test -r "$SB_SHIM"; then
		sb_log "another uid: a 0755 directory lets it in, a 0700 one keeps it out"
		P=$(sb_long_path "shared.sock" 160)
		"${SHIMMED[@]}" socat UNIX-LISTEN:"$P",mode=666,fork EXEC:cat 2>>"$T/shim.log" &
		srv=$!
		sb_bg $srv
		PS=$(shim_short "$P")
		sb_wait_for test -S "$PS" || fail "no short socket for the shared server"
		shim_try "$T/out" $SB_NOBODY bash -c 'echo shared | LD_PRELOAD="$1" socat -t30 - UNIX-CONNECT:"$2"' \
			_ "$SB_SHIM" "$P" || fail "nobody connects through a 0755 directory: $(cat "$T/out")"
		assert_eq "$(cat "$T/out")" shared "another uid, traversable directory"
		kill -TERM $srv
		wait $srv
		sb_wait_for eval "! test -e '$PS'" || fail "shared server left its socket"

		mkdir -m 700 "$T/private"
		P="$T/private/$(printf 'p%.0s' $(seq 1 130)).sock"
		"${SHIMMED[@]}" socat UNIX-LISTEN:"$P",mode=666,fork EXEC:cat 2>>"$T/shim.log" &
		srv=$!
		sb_bg $srv
		PS=$(shim_short "$P")
		sb_wait_for test -S "$PS" || fail "no short socket for the private server"
		$SB_NOBODY bash -c 'echo private | LD_PRELOAD="$1" socat -t5 - UNIX-CONNECT:"$2"' \
			_ "$SB_SHIM" "$P" >"$T/out" 2>&1 && fail "nobody reached a socket in a 0700 directory"
		$SB_NOBODY socat -t5 - UNIX-CONNECT:"$PS" </dev/null >"$T/out" 2>&1 &&
			fail "nobody reached the short socket of a path in a 0700 directory"
		assert_contains "$(cat "$T/out")" "ermission denied" "private directory: EACCES"
		kill -TERM $srv
		wait $srv
	fi
fi

# a root of the longest length the broker takes (ROOT/xx/HASH/sock in 107
# bytes), named with a trailing '/': the shim trims it as the broker does
sb_log "a root of the longest length, with a trailing slash"
R=$T/r
while [ ${#R} -lt $((107 - 25)) ]; do R=${R}x; done
"$SOCKBROKERD" --root "$R/" --ready-fd 3 3>"$T/ready.r" 2>>"$T/broker.log" &
b2=$!
sb_bg $b2
sb_wait_for test -s "$T/ready.r" || fail "no broker on the root $R/"
SOCKBROKER_ROOT=$R/ "${SHIMMED[@]}" socat -u SYSTEM:'echo longroot' UNIX-LISTEN:"$L" \
	2>>"$T/shim.log" &
srv=$!
sb_bg $srv
sb_wait_for eval "test -L '$L'" || fail "root $R/: no link at the long path: $(tail -3 "$T/shim.log")"
case "$(readlink "$L")" in "$R"/*/*/sock) ;; *) fail "root $R/: the link names '$(readlink "$L")'" ;; esac
shim_try "$T/out" env SOCKBROKER_ROOT="$R/" "${SHIMMED[@]}" socat -u UNIX-CONNECT:"$L" - ||
	fail "root $R/: connect"
assert_eq "$(cat "$T/out")" longroot "a server and a client under the root $R/"
wait $srv
kill -TERM $b2
wait $b2 || fail "the broker on $R/: exit status"

# no broker: the call fails with one clear line and the errno
SOCKBROKER_ROOT="$T/nobroker" "${SHIMMED[@]}" socat UNIX-LISTEN:"$L" - </dev/null 2>"$T/err" &&
	fail "bind without a broker succeeded"
assert_contains "$(cat "$T/err")" "sockbroker-shim: bind '" "no broker: message"
assert_contains "$(cat "$T/err")" "Connection refused" "no broker: errno"

# a user who may not create the long path may not have its short path
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T" "$ROOT" 2>/dev/null
	chmod o+r "$SB_SHIM" 2>/dev/null
	if $SB_NOBODY test -r "$SB_SHIM"; then
		sb_log "refusal: nobody binds a long path in root's directory"
		$SB_NOBODY env LD_PRELOAD="$SB_SHIM" socat UNIX-LISTEN:"$L" - </dev/null 2>"$T/err" &&
			fail "nobody bound a path in root's directory"
		assert_contains "$(cat "$T/err")" "sockbroker-shim: bind '$L'" "refused: message"
		assert_contains "$(cat "$T/err")" "ermission denied" "refused: EACCES"
	fi
fi
exit 0
