#!/bin/sh
# SPDX-License-Identifier: ISC
# demo.sh [--exit]: start sockbrokerd in the foreground on its default root
# and show bind and get with a path too long for sun_path. Ctrl-C stops the
# broker; with --exit (for CI and scripts) the demo stops it and exits by
# itself, with status 0 only if every step worked and the broker stopped
# cleanly. SBIN and BIN say where the programs are (default /usr/local).
set -eu
SBIN=${SBIN:-/usr/local/sbin}
BIN=${BIN:-/usr/local/bin}
once=
case ${1-} in
--exit) once=1 ;;
'') ;;
*) echo "usage: demo.sh [--exit]" >&2; exit 100 ;;
esac
fifo=$(mktemp -u /tmp/sockbroker-ready.XXXXXX)
mkfifo "$fifo"
"$SBIN/sockbrokerd" --ready-fd 3 3>"$fifo" &
broker=$!
read -r _ <"$fifo"
rm -f "$fifo"
trap 'kill -TERM $broker 2>/dev/null' INT TERM
[ -z "$once" ] || trap 'kill -TERM $broker 2>/dev/null' EXIT

long=/tmp/sockbroker-demo/$(printf 'a-very-long-project-directory-%.0s' 1 2 3 4)/vm-with-a-long-name
mkdir -p "$long"
sock="$long/swtpm-ctrl.sock"
echo "== bind a listening socket for a path of ${#sock} bytes (sun_path holds 108):"
"$BIN/sockbroker" bind "$sock" --listen --lifetime hold
echo "== the long path is a link to the broker's short path:"
ls -l "$sock"
echo "== bind a name, hand its socket to a program as fd 3 (LISTEN_FDS=1), talk to it:"
path=$("$BIN/sockbroker" bind demo-echo --listen)
"$BIN/sockbroker" get demo-echo -- python3 -c '
import socket
s = socket.socket(fileno=3)          # the held listening socket, LISTEN_FDS=1
c, _ = s.accept()
c.sendall(b"echo: " + c.recv(100))
' &
server=$!
reply=$(echo hello through the broker | socat -t5 - "UNIX-CONNECT:$path")
echo "$reply"
wait $server
echo "== list:"
"$BIN/sockbroker" list
if [ -n "$once" ]; then
	[ "$reply" = "echo: hello through the broker" ] || { echo "demo: wrong reply: $reply" >&2; exit 1; }
	"$BIN/sockbroker" release demo-echo
	"$BIN/sockbroker" release "$sock"
	trap - EXIT
	kill -TERM $broker
	wait $broker
	echo "== sockbrokerd stopped."
	exit 0
fi
echo "== sockbrokerd keeps running in the foreground (pid $broker); Ctrl-C stops it."
wait $broker
