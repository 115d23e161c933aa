#!/bin/sh
# demo.sh: start sockbrokerd in the foreground on its default root and show
# bind and get with a path too long for sun_path. Ctrl-C stops the broker.
set -eu
SBIN=${SBIN:-/usr/local/sbin}
BIN=${BIN:-/usr/local/bin}
fifo=$(mktemp -u /tmp/sockbroker-ready.XXXXXX)
mkfifo "$fifo"
"$SBIN/sockbrokerd" --ready-fd 3 3>"$fifo" &
broker=$!
read -r _ <"$fifo"
rm -f "$fifo"
trap 'kill -TERM $broker 2>/dev/null' INT TERM

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
echo hello through the broker | socat -t1 - "UNIX-CONNECT:$path"
echo "== list:"
"$BIN/sockbroker" list
echo "== sockbrokerd keeps running in the foreground (pid $broker); Ctrl-C stops it."
wait $broker
