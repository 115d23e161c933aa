# SPDX-License-Identifier: ISC
# lib.sh: shared helpers of the integration tests (sourced by bash scripts).
#
# Each test gets its own temporary directory $T and runtime root $ROOT, a
# real sockbrokerd started with sb_start (which waits for its readiness
# notification, never a sleep), and everything is cleaned up at exit.
# Exit 77 means "skipped" (automake), 99 a hard error.

set -u
set -o pipefail

: "${top_builddir:?run me through make check}"
: "${top_srcdir:?run me through make check}"

SOCKBROKERD="$top_builddir/brokerd/sockbrokerd"
SOCKBROKER="$top_builddir/cli/sockbroker"
SB_SHIM="$top_builddir/shims/.libs/libsockbroker-shim.so"
# The rewrite rules of this tree, not the installed ones.
export SOCKBROKER_REWRITE_DIRS="$top_srcdir/shims/rewrite.d"
# A client that finds no broker never starts one in a test unless the test
# asks (SOCKBROKER_AUTOSTART=1), and then starts the built broker, never an
# installed one: a user's default is on, and "no broker" must mean none.
export SOCKBROKER_AUTOSTART=0 SOCKBROKERD
export LD_LIBRARY_PATH="$top_builddir/libbroker/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The unprivileged second user for permission tests.
SB_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

T=$(mktemp -d /tmp/sbtest.XXXXXX)
chmod 755 "$T"
ROOT="$T/root"
export SOCKBROKER_ROOT="$ROOT"
SB_PID=
_sb_bg_pids=

sb_log() { printf '# %s\n' "$*" >&2; }

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	if [ -s "$T/broker.log" ]; then
		echo '--- broker log (last 30 lines)' >&2
		tail -n 30 "$T/broker.log" >&2
	fi
	exit 1
}

skip() { printf 'SKIP: %s\n' "$*" >&2; exit 77; }

need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
	done
}

# A second uid's python3, or skip: root is needed (for WHY, "a second uid"
# unless said) and uid 65534 must be able to run it. $PY is that python3,
# /usr/bin's where there is one (not one under /root).
sb_need_nobody_python() {
	need python3 setpriv
	[ "$(id -u)" = 0 ] || skip "needs root (${1:-a second uid})"
	PY=python3
	[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
	$SB_NOBODY $PY -c '' 2>/dev/null || skip "setpriv cannot run $PY as uid 65534 here"
}

_sb_cleanup() {
	local p
	for p in $_sb_bg_pids $SB_PID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $_sb_bg_pids $SB_PID; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap _sb_cleanup EXIT

# Remember a background pid so that it is killed at exit.
sb_bg() { _sb_bg_pids="$_sb_bg_pids $1"; }

# sb_start [ARGS...]: start sockbrokerd on $ROOT, wait until it is ready.
sb_start() {
	local fifo="$T/ready.$$.$RANDOM" line
	mkfifo "$fifo"
	"$SOCKBROKERD" --root "$ROOT" --ready-fd 3 "$@" 3>"$fifo" 2>>"$T/broker.log" &
	SB_PID=$!
	if ! read -r -t 20 line <"$fifo"; then
		rm -f "$fifo"
		fail "sockbrokerd did not become ready"
	fi
	rm -f "$fifo"
	kill -0 "$SB_PID" 2>/dev/null || fail "sockbrokerd exited at start"
}

# sb_stop: SIGTERM the broker and check that it exits cleanly.
sb_stop() {
	local rc
	[ -n "$SB_PID" ] || return 0
	kill -TERM "$SB_PID"
	wait "$SB_PID"
	rc=$?
	SB_PID=
	[ "$rc" -eq 0 ] || fail "sockbrokerd exited with $rc on SIGTERM"
}

# sb_kill9: kill the broker hard.
sb_kill9() {
	[ -n "$SB_PID" ] || return 0
	kill -KILL "$SB_PID"
	wait "$SB_PID" 2>/dev/null
	SB_PID=
}

# sb_fd_count PID: how many fds a process has open.
sb_fd_count() { ls "/proc/$1/fd" | wc -l; }

# sb_wait_fds N: wait until the broker has N fds open again (it closes
# released sockets on its closer thread, and a client's connection only
# when it reads the hang-up).
_sb_fds_are() { [ "$(sb_fd_count "$SB_PID")" = "$1" ]; }
sb_wait_fds() { sb_wait_for _sb_fds_are "$1"; }
# sb_fds_settled: the broker's fd count once two reads 50 ms apart agree
# (a baseline: a client that just went may still hold one on its way to
# the closer thread).
sb_fds_settled() {
	local a b i
	a=$(sb_fd_count "$SB_PID")
	for i in $(seq 1 100); do
		sleep 0.05
		b=$(sb_fd_count "$SB_PID")
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$b"
}
# sb_wait_fds_at_most N: the same for at most N (fds a test cannot count
# exactly, such as those still waiting on a closer thread).
_sb_fds_at_most() { [ "$(sb_fd_count "$SB_PID")" -le "$1" ]; }
sb_wait_fds_at_most() { sb_wait_for _sb_fds_at_most "$1"; }

# sb_still_serves KEY WHAT: the broker still answers after WHAT (a hang
# detector, not a timing test): three STATUS, a bind of KEY that makes its
# socket, and its release.
sb_still_serves() {
	local key=$1 what=$2 i short
	for i in 1 2 3; do
		timeout 20 "$SOCKBROKER" status >/dev/null || fail "the broker stalls on $what"
	done
	short=$(timeout 20 "$SOCKBROKER" bind "$key" --listen) || fail "bind after $what"
	[ -S "$short" ] || fail "no socket at $short"
	timeout 20 "$SOCKBROKER" release "$key" || fail "release after $what"
}

# A path of at least N bytes (default 150) under $T, directories created.
# sb_long_path NAME [N]
sb_long_path() {
	local name=$1 n=${2:-150} dir="$T/long"
	while [ $(( ${#dir} + 1 + ${#name} )) -lt "$n" ]; do
		dir="$dir/$(printf 'd%.0s' $(seq 1 20))"
	done
	mkdir -p "$dir"
	chmod 755 "$dir"
	printf '%s/%s\n' "$dir" "$name"
}

# sb_wait_for CMD...: retry CMD until it succeeds, for at most 10 s.
# For conditions no process can announce (a file disappearing); polls
# every 10 ms, it never sleeps a fixed time. The shell expands a $(...)
# in the arguments once, before the first try: to wait for a value that
# changes, pass a function (sb_wait_fds) or eval '...'.
sb_wait_for() {
	local i
	for i in $(seq 1 1000); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.01
	done
	return 1
}

# assert_eq GOT WANT WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
	case "$1" in
	*"$2"*) ;;
	*) fail "$3: '$1' does not contain '$2'" ;;
	esac
}
