#!/bin/bash
# SPDX-License-Identifier: ISC
# Clean exits (broker mode, paths of 150+ bytes): when a shimmed server
# exits by any signal, its owner entry, its short directory and the link at
# its long path are gone: kill -9 of a C server, SIGTERM to QEMU, tmux
# kill-server. The broker removes the link as its owner, and only if it is
# still the symlink the shim made: a name the user replaced stays.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"
shim_mode broker

# all_gone LONG SHORT: entry, short socket and link of LONG are gone
all_gone() {
	sb_wait_for eval "! test -e '$2' && ! test -L '$1' && ! '$SOCKBROKER' resolve '$1'"
}

# kill -9 of a server
P=$(sb_long_path "exits-c.sock" 160)
S=$(shim_short "$P")
shim_bg "$T/srv.out" "${SHIMMED_VG[@]}" "$SHIM_PROG" serve "$P"
srv=$SHIM_BG_PID
shim_wait_line "$T/srv.out" ready || fail "server not ready: $(tail -3 "$T/shim.log")"
[ -L "$P" ] || fail "no link at $P"
kill -KILL $srv
wait $srv 2>/dev/null
all_gone "$P" "$S" || fail "kill -9: left behind: $(ls -l "$P" 2>&1) $("$SOCKBROKER" list)"

# a link the user replaced (another target) is not the broker's to remove
shim_bg "$T/srv.out" "${SHIMMED[@]}" "$SHIM_PROG" serve "$P"
srv=$SHIM_BG_PID
shim_wait_line "$T/srv.out" ready || fail "server 2 not ready"
ln -sfn "$T/elsewhere" "$P"
kill -KILL $srv
wait $srv 2>/dev/null
sb_wait_for eval "! test -e '$S'" || fail "kill -9: the short socket stayed"
# the broker has seen the exit (the entry is gone) and has had its chance
sb_wait_for eval "! '$SOCKBROKER' resolve '$P'" || fail "the entry stayed"
[ "$(readlink "$P")" = "$T/elsewhere" ] || fail "the user's own link at $P was removed or changed"
rm -f "$P"

# SIGTERM to QEMU: its QMP socket's link goes
if command -v qemu-system-x86_64 >/dev/null; then
	Q=$(sb_long_path "exits-qmp.sock" 160)
	QS=$(shim_short "$Q")
	"${SHIMMED[@]}" qemu-system-x86_64 -machine none -nodefaults -display none \
		-qmp unix:"$Q",server=on,wait=off 2>>"$T/shim.log" &
	q=$!
	sb_bg $q
	sb_wait_for test -S "$QS" || fail "QEMU did not listen: $(tail -3 "$T/shim.log")"
	kill -TERM $q
	wait $q 2>/dev/null
	all_gone "$Q" "$QS" || fail "SIGTERM to QEMU: left behind: $(ls -l "$Q" 2>&1)"
fi

# tmux kill-server: the server's socket link goes
if command -v tmux >/dev/null; then
	X=$(sb_long_path "exits-tmux" 160)
	XS=$(shim_short "$X")
	SHELL=/bin/sh shimmed tmux -S "$X" -f /dev/null new-session -d -s s "sleep 60" 2>>"$T/shim.log" ||
		fail "tmux new-session: $(tail -3 "$T/shim.log")"
	[ -L "$X" ] || fail "no link at the tmux socket path"
	shimmed tmux -S "$X" kill-server 2>>"$T/shim.log" || fail "tmux kill-server"
	all_gone "$X" "$XS" || fail "tmux kill-server: left behind: $(ls -l "$X" 2>&1)"
fi
exit 0
