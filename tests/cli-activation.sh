#!/bin/bash
# SPDX-License-Identifier: ISC
# cli-activation: `get KEY -- CMD` hands a held listening socket to a real
# server (socat ACCEPT-FD:3, or python3 socket.socket(fileno=3)) that a
# client reaches at the short path; `bind --lifetime owner -- CMD` lasts as
# long as CMD.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
SB="$SOCKBROKER"
long=$(sb_long_path echo.sock 160)
sp=$($SB bind "$long" --listen --lifetime hold) || fail "bind $long"

# a python3 echo server on fd 3 (LISTEN_FDS convention)
$SB get "$long" -- python3 -c '
import os, socket
assert os.environ["LISTEN_FDS"] == "1" and int(os.environ["LISTEN_PID"]) == os.getpid()
assert os.environ["LISTEN_FDNAMES"] == "echo.sock"
s = socket.socket(fileno=3)
assert s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM
c, _ = s.accept()
c.sendall(b"echo:" + c.recv(100))
c.close()
' 2>"$T/server.err" &
server=$!
sb_bg $server
# the client connects at the short path; the socket already listens, so no race
got=$(python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
c.sendall(b"ping")
print(c.recv(100).decode())
' "$sp") || fail "client"
assert_eq "$got" "echo:ping" "python3 server on a broker socket"
wait $server || fail "server: $(cat "$T/server.err")"

# socat ACCEPT-FD:3 (socat >= 1.8; Debian 12 has 1.7.4); the held socket is handed again
if command -v socat >/dev/null && [[ "$(socat -h 2>&1)" == *ACCEPT-FD* ]]; then
	$SB get "$long" -- socat ACCEPT-FD:3 SYSTEM:'read l; echo "socat:$l"' 2>"$T/socat.err" &
	server=$!
	sb_bg $server
	got=$(echo hi | socat -t5 - UNIX-CONNECT:"$sp") || fail "socat client"
	assert_eq "$got" "socat:hi" "socat ACCEPT-FD:3 on a broker socket"
	wait $server
else
	sb_log "socat without ACCEPT-FD: skipped that part"
fi

# bind --lifetime owner -- CMD: the entry lasts as long as CMD
fifo="$T/owner.fifo"
mkfifo "$fifo"
$SB bind owned --listen --lifetime owner -- sh -c 'echo up; read x' >"$T/owner.out" <"$fifo" &
owner=$!
sb_bg $owner
exec 8>"$fifo"	# keeps CMD's stdin open; closing it lets CMD exit
sb_wait_for grep -q up "$T/owner.out" || fail "owner CMD did not start"
sp_owned=$($SB resolve owned) || fail "owner entry missing while CMD runs"
$SB list --json | python3 -c '
import json, sys
e = [e for e in json.load(sys.stdin) if e["key"] == "owned"][0]
assert e["lifetime"] == "owner" and e["pid"] == int(sys.argv[1]), e
' $owner || fail "owner entry: lifetime owner, pid of CMD"
$SB get owned 2>/dev/null | grep -qx "$sp_owned" || fail "get of an owner entry prints its path"
exec 8>&-
wait $owner
sb_wait_for sh -c "! $SB resolve owned" || fail "owner entry left after CMD exited"
[ ! -e "$sp_owned" ] || fail "owner socket left at $sp_owned"

# bind -- CMD: the socket as fd 3 for a command that is not found
$SB bind nocmd --listen --lifetime owner -- /nonexistent/server 2>"$T/err"
assert_eq $? 127 "bind -- missing command"
assert_contains "$(cat "$T/err")" "/nonexistent/server" "names the command"
sb_stop
