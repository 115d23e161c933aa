#!/bin/sh
# SPDX-License-Identifier: ISC
# qmp-greeting.sh SOCKET: start QEMU with its QMP socket at SOCKET, connect
# as soon as it is there, read the greeting, quit, wait for QEMU. Figure 9
# times this as a whole process, under `sockbroker exec` with a 150-byte
# SOCKET and plainly with a short one. A run that fails leaves no QEMU.
set -eu
sock=$1
qemu-system-x86_64 -machine none -nodefaults -display none -no-user-config \
    -qmp unix:"$sock",server=on,wait=off &
q=$!
trap 'kill -KILL $q 2>/dev/null || :' EXIT
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
    socat -t5 - UNIX-CONNECT:"$sock",retry=5000,interval=0.001 | grep '"QMP"' >/dev/null
wait $q
trap - EXIT
