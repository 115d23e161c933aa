#!/bin/bash
# SPDX-License-Identifier: ISC
# Service users find the system broker: a process of a system user with no
# session (no XDG_RUNTIME_DIR, no SOCKBROKER_ROOT, no broker of its own,
# as libvirt-qemu, tss or Incus' QEMU user run) uses the broker on
# /run/sockbroker, in auto and broker mode, instead of falling back to
# direct mode (which cannot take a 100-byte basename); so does sockbroker
# exec for a static client. A user whose own broker answers keeps using it.
# In a private mount namespace with a tmpfs
# over /run; needs root.
if [ -z "${SB_IN_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a tmpfs over /run)" >&2; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "SKIP: cannot make a mount namespace" >&2; exit 77; }
	SB_IN_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need socat setpriv

mount -t tmpfs -o mode=0755 tmpfs /run || skip "cannot mount a tmpfs on /run"
ROOT=/run/sockbroker
export SOCKBROKER_ROOT=$ROOT	# for sockbroker list; the service users have none
sb_start

# nobody, as a service runs it: no session, no root given
as_service() {
	env -u SOCKBROKER_ROOT -u XDG_RUNTIME_DIR -u SOCKBROKER_MODE "$@"
}
NOBODY=($SB_NOBODY)
L=$(sb_long_path "$(printf 's%.0s' $(seq 1 100)).sock" 200)
chown 65534:65534 "$(dirname "$L")"

for mode in auto broker; do
	as_service SOCKBROKER_MODE=$mode "${NOBODY[@]}" env LD_PRELOAD="$SB_SHIM" \
		socat UNIX-LISTEN:"$L" EXEC:cat >"$T/srv.out" 2>"$T/srv.err" &
	srv=$!
	sb_bg $srv
	sb_wait_for test -S "$L" || fail "$mode: no socket at $L: $(cat "$T/srv.err")"
	target=$(readlink "$L") || fail "$mode: $L is not the shim's link (direct mode?)"
	case $target in
	/run/sockbroker/*) ;;
	*) fail "$mode: $L points at $target, not under /run/sockbroker" ;;
	esac
	out=$("$SOCKBROKER" list 2>&1)
	assert_contains "$out" "$target" "$mode: the system broker has the entry"
	assert_contains "$out" " 65534 " "$mode: owned by nobody"
	shim_try "$T/out" eval "echo ping-$mode | as_service ${NOBODY[*]} env LD_PRELOAD=$SB_SHIM \
		socat -t2 - UNIX-CONNECT:$L" || fail "$mode: client: $(tail -3 "$T/shim.log")"
	assert_eq "$(cat "$T/out")" "ping-$mode" "$mode: echo through the system broker"
	wait $srv
	sb_wait_for eval "! test -e '$L' && ! test -L '$L'" || fail "$mode: $L left behind"
	# a static client (no preload reaches it) through sockbroker exec
	if [ $mode = auto ] && [ -x "$SHIM_PROG_STATIC" ]; then
		as_service "${NOBODY[@]}" env LD_PRELOAD="$SB_SHIM" \
			socat UNIX-LISTEN:"$L" EXEC:cat 2>"$T/srv.err" &
		srv=$!
		sb_bg $srv
		sb_wait_for test -S "$L" || fail "$mode: no socket at $L: $(cat "$T/srv.err")"
		out=$(as_service SOCKBROKER_SHIM="$SB_SHIM" "${NOBODY[@]}" "$SOCKBROKER" exec -- \
			"$SHIM_PROG_STATIC" call "$L" "static-$mode" 2>&1) ||
			fail "$mode: the static client through sockbroker exec: $out"
		assert_eq "$out" "static-$mode" "$mode: a static client finds the system broker"
		wait $srv
	fi
	sb_wait_for eval "! test -e '$L' && ! test -L '$L'" || fail "$mode: $L left behind"
done

# a user with a broker of its own keeps it
X=$T/xdg
mkdir -p "$X"
chown 65534:65534 "$X"
chmod 0700 "$X"
"${NOBODY[@]}" "$SOCKBROKERD" --root "$X/sockbroker" 2>>"$T/broker.log" &
ub=$!
sb_bg $ub
sb_wait_for test -S "$X/sockbroker/control" || fail "the user's broker did not start"
env -u SOCKBROKER_ROOT -u SOCKBROKER_MODE XDG_RUNTIME_DIR="$X" "${NOBODY[@]}" \
	env LD_PRELOAD="$SB_SHIM" socat UNIX-LISTEN:"$L" EXEC:cat 2>"$T/srv.err" &
srv=$!
sb_bg $srv
sb_wait_for test -S "$L" || fail "own broker: no socket at $L: $(cat "$T/srv.err")"
target=$(readlink "$L")
case $target in
"$X"/sockbroker/*) ;;
*) fail "own broker: $L points at $target, not under $X/sockbroker" ;;
esac
kill $srv
wait $srv
exit 0
