# SPDX-License-Identifier: ISC
# shim-lib.sh: what the shim's integration tests share (sourced after lib.sh).
#
# shimmed CMD...      run CMD with the shim preloaded ("${SHIMMED[@]}" CMD
#                     in the background)
# shimmed_vg CMD...   the same, under valgrind when SB_VALGRIND=1 (SHIMMED_VG)
# shim_mode MODE      broker: start sockbrokerd; direct: no daemon
# shim_short LONG     the short path the shim gives LONG in this mode
# shim_bg OUT CMD...  run CMD in the background (sb_bg; its pid in SHIM_BG_PID),
#                     stdout to OUT: CMD is "${SHIMMED[@]}" PROG..., not a function

[ -f "$SB_SHIM" ] || skip "the shim is not built ($SB_SHIM)"
SHIM_PROG="$top_builddir/tests/shim-prog"
SHIM_PROG_STATIC="$top_builddir/tests/shim-prog-static"

SHIM_VG=()
if [ "${SB_VALGRIND:-}" = 1 ]; then
	need valgrind
	sb_log "shimmed programs run under valgrind"
	# valgrind runs env (so that its launcher does not get the shim), then
	# traces into CMD with the shim preloaded.
	SHIM_VG=(valgrind -q --trace-children=yes --error-exitcode=1 \
		--errors-for-leak-kinds=definite --leak-check=full \
		--suppressions="$top_srcdir/tests/shim-valgrind.supp" \
		--log-file="$T/valgrind.%p")
fi

# As arrays, so that "${SHIMMED[@]}" CMD & gives CMD's own pid in $!.
SHIMMED=(env "LD_PRELOAD=$SB_SHIM")
SHIMMED_VG=("${SHIM_VG[@]}" env "LD_PRELOAD=$SB_SHIM")
shimmed() { "${SHIMMED[@]}" "$@"; }
shimmed_vg() { "${SHIMMED_VG[@]}" "$@"; }

# At exit: any valgrind report is a failure.
shim_check_valgrind() {
	local f
	for f in "$T"/valgrind.*; do
		[ -s "$f" ] || continue
		cat "$f" >&2
		fail "valgrind reported errors ($f)"
	done
	return 0
}

shim_mode() {
	export SOCKBROKER_MODE=$1
	if [ "$1" = broker ] && [ -z "$SB_PID" ]; then
		sb_start
	fi
}

# The short path of LONG (broker: under $ROOT; direct: at LONG itself).
shim_short() {
	if [ "$SOCKBROKER_MODE" = broker ]; then
		SOCKBROKER_DEBUG=1 SOCKBROKER_REWRITE='shim-prog * either path' \
			shimmed "$SHIM_PROG" x "$1" 2>&1 >/dev/null |
			sed -n "s/^sockbroker-shim: rewrote '.*' -> '\([^']*\)' (.*$/\1/p"
	else
		printf '%s\n' "$1"
	fi
}

shim_bg() {
	local out=$1
	shift
	# Empty OUT before CMD starts, not in the background shell: a waiter
	# for a line of a reused OUT would otherwise see the last run's line.
	: >"$out"
	"$@" >>"$out" 2>>"$T/shim.log" &
	sb_bg $!
	SHIM_BG_PID=$!
}

# shim_wait_line FILE TEXT: wait until FILE has a line TEXT.
shim_wait_line() { sb_wait_for grep -qx "$2" "$1"; }

# shim_wait_gone PID: wait until a background process exited.
shim_wait_gone() { sb_wait_for eval "! kill -0 $1"; }

# shim_try OUT CMD...: run CMD until it succeeds (a server that is bound
# but not listening yet refuses), stdout to OUT; polls for at most 20 s
# (120 s under valgrind).
shim_try() {
	local out=$1 end
	shift
	end=$((SECONDS + (${#SHIM_VG[@]} > 0 ? 120 : 20)))
	while [ $SECONDS -lt $end ]; do
		"$@" >"$out" 2>>"$T/shim.log" && return 0
		sleep 0.02
	done
	return 1
}

# At exit: the valgrind check, then the cleanup whatever it said (a failed
# check exits, and the broker and background programs would be left running).
shim_exit() {
	local bad=0
	(shim_check_valgrind) || bad=1
	_sb_cleanup
	[ "$bad" = 0 ] || exit 1
}
trap shim_exit EXIT
