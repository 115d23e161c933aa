#!/bin/bash
# SPDX-License-Identifier: ISC
# Views and datagrams: sendto and sendmsg to an over-long path go where
# the link at that path points in this process's view, as connect does
# (sockbroker-shim(8), "Broker mode"), never to the short path the shim
# remembered. A datagram socket of shim-prog is bound at a long path;
# once the link there is replaced by a plain file, a datagram to the long
# path is refused (ECONNREFUSED, the kernel's answer at a file that is no
# socket) and reaches no socket. Under valgrind with SB_VALGRIND=1.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"
shim_mode broker
L=$(sb_long_path "views-dgram.sock" 160)

coproc VS { "${SHIMMED_VG[@]}" "$SHIM_PROG" viewsend "$L" 2>>"$T/shim.log"; }
vspid=$VS_PID
sb_bg $vspid
# bash unsets VS once the coprocess is reaped: its own copies of the pipes
exec {vs_out}<&"${VS[0]}" {vs_in}>&"${VS[1]}"
read -r -t 60 line <&$vs_out || fail "viewsend did not start: $(cat "$T/shim.log")"
assert_eq "$line" waiting "viewsend's first datagram"
sp=$(readlink "$L") || fail "no link at the long path"
[ -S "$sp" ] || fail "no socket at $sp"
# another view's name there now: a plain file, no link (not through the shim)
rm -f "$L"
: >"$L"
echo go >&$vs_in
exec {vs_in}>&-
out=$(timeout 60 cat <&$vs_out)
wait $vspid || fail "viewsend failed: $(cat "$T/shim.log")"
assert_eq "$out" "sendto ECONNREFUSED
received nothing
sendmsg ECONNREFUSED
received nothing" "datagrams to a long path that is no link"
exit 0
