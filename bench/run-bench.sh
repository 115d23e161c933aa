#!/bin/sh
# SPDX-License-Identifier: ISC
# run-bench.sh: `make bench`. Runs every figure of bench/README and prints
# one table. Each figure compares two things measured in the same run,
# interleaved; a figure that cannot run prints "not measured" and why, and
# the others still run. BENCH_QUICK=1: a short smoke run. BENCH_FIGS="3 5":
# only those figures.
set -u

: "${top_builddir:?run me through make bench}"
: "${bench_builddir:?run me through make bench}"
B=$bench_builddir
SOCKBROKERD=$top_builddir/brokerd/sockbrokerd
SB_SHIM=$top_builddir/shims/.libs/libsockbroker-shim.so
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=
FIGS=${BENCH_FIGS:-1 2 3 4 5 6 7 8 9}

# The real binary of an uninstalled program (not its libtool wrapper).
real_bin() {
	d=$(dirname "$1"); n=$(basename "$1")
	if [ -f "$d/.libs/$n" ]; then echo "$d/.libs/$n"; else echo "$1"; fi
}
SOCKBROKER=$(real_bin "$top_builddir/cli/sockbroker")

# Work on tmpfs when there is one (the runtime root should be: FIELD-NOTES).
W=$(mktemp -d /dev/shm/sbbench.XXXXXX 2>/dev/null || mktemp -d /tmp/sbbench.XXXXXX) || exit 111
chmod 755 "$W"
PIDS=
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { case " $FIGS " in *" $1 "*) return 0 ;; esac; return 1; }

# not_measured FIG WHY
not_measured() { printf '%-4s %s\n' "$1" "not measured: $2"; }

# figure FIG CMD...: run a figure's program; its rows go to stdout, its
# errors to $W/FIG.err, and a failure becomes a "not measured" row.
figure() {
	fig=$1; shift
	if ! "$@" 2>"$W/$fig.err"; then
		not_measured "$fig" "$(grep -v '^$' "$W/$fig.err" | tail -n 1)"
	fi
}

# broker_up DIR: a sockbrokerd ready, its root DIR/root (in ROOT), its log DIR/log.
broker_up() {
	ROOT=$1/root
	mkdir -p "$1"
	mkfifo "$1/ready"
	"$SOCKBROKERD" --root "$ROOT" --ready-fd 3 3>"$1/ready" 2>"$1/log" &
	PIDS="$PIDS $!"
	read -r _ <"$1/ready" || { echo "sockbrokerd did not start: $(tail -n 1 "$1/log")" >&2; return 1; }
}

if [ -n "$QUICK" ]; then
	echo "# sockbroker benchmarks (BENCH_QUICK: a smoke run, figures are not meaningful)"
else
	echo "# sockbroker benchmarks"
fi
echo "# $(uname -srm), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); times are medians of every iteration, spread p10-p90"
"$B/bench-exec" --header

# 1, 2: the shim (bench-shim.c, from the shim's own work; bench-tcp.c adds
# the TCP loopback half of figure 1).
if want 1 || want 2; then
	if [ -x "$B/bench-shim" ]; then
		SB_SHIM=$SB_SHIM SOCKBROKERD=$SOCKBROKERD BENCH_DIR=$W \
		    figure 1 "$B/bench-shim"
	else
		not_measured "1,2" "bench-shim is not built (the shim's bench-shim.c has not landed)"
	fi
	SB_SHIM=$SB_SHIM figure 1 "$B/bench-tcp"
fi

# 3: sb_get on a new connection vs a raw SCM_RIGHTS request/reply.
if want 3; then
	mkdir -p "$W/f3"
	figure 3 "$B/bench-get" "$SOCKBROKERD" "$W/f3"
fi

# s6-fdholderd and sockbrokerd each holding the same kind of stored socket
# (figures 4 and 5), set up once.
S6_UP=
s6_up() {
	[ -n "$S6_UP" ] && return 0
	command -v s6-fdholder-daemon >/dev/null 2>&1 || { echo "s6 is not installed" >&2; return 1; }
	S6=$W/s6 uid=$(id -u)
	mkdir -p "$S6/rules/uid/$uid/env" "$W/f4"
	touch "$S6/rules/uid/$uid/allow"
	echo '^' >"$S6/rules/uid/$uid/env/S6_FDHOLDER_STORE_REGEX"
	echo '^' >"$S6/rules/uid/$uid/env/S6_FDHOLDER_RETRIEVE_REGEX"
	mkfifo "$S6/ready"
	s6-fdholder-daemon -1 -v 0 -i "$S6/rules" "$S6/s" >"$S6/ready" 2>"$S6/log" &
	PIDS="$PIDS $!"
	read -r _ <"$S6/ready" || { echo "s6-fdholder-daemon did not start" >&2; return 1; }
	broker_up "$W/f4" || return 1
	# the same kind of socket stored in both, by their own store commands
	s6-ipcserver-socketbinder "$W/f4/held-s6" s6-fdholder-store "$S6/s" bench-fd || return 1
	s6-ipcserver-socketbinder "$W/f4/held-sb" \
	    "$SOCKBROKER" --root "$ROOT" put bench-fd --fd 0 || return 1
	S6_UP=1
}

# 4: `sockbroker get NAME -- true` vs s6-fdholder-retrieve, same stored socket.
fig4() {
	s6_up || return 1
	n=500; [ -n "$QUICK" ] && n=40
	# the CLI links no library of ours: run as installed, no LD_LIBRARY_PATH
	# (which CMD would inherit and pay for at its own start)
	"$B/bench-exec" 4 "sockbroker get -- true vs s6-fdholder-retrieve" 0.75 $n \
	    "$SOCKBROKER" --root "$ROOT" get bench-fd -- true ::: \
	    s6-fdholder-retrieve "$S6/s" bench-fd true
}
want 4 && figure 4 fig4

# 5: request rate vs a bare libevent server.
if want 5; then
	mkdir -p "$W/f5"
	figure 5 "$B/bench-rate" "$SOCKBROKERD" "$B/bench-evserver" "$W/f5"
	# the same GETs through the two C libraries, sockbrokerd vs s6-fdholderd
	fig5s6() {
		[ -x "$B/bench-s6rate" ] || { echo "bench-s6rate is not built (libs6-dev, skalibs-dev)" >&2; return 1; }
		s6_up || return 1
		"$B/bench-s6rate" "$ROOT" bench-fd "$S6/s" bench-fd
	}
	figure 5 fig5s6
fi

# 6: scale.
if want 6; then
	mkdir -p "$W/f6"
	if [ -n "$QUICK" ]; then sizes="1000 10000"; else sizes="1000 10000 100000"; fi
	# BENCH_MILLION=1: also 1,000,000 entries (minutes to fill, ~2 GB of tmpfs)
	[ "${BENCH_MILLION:-0}" = 1 ] && sizes="$sizes 1000000"
	SOCKBROKER_CLI=$SOCKBROKER figure 6 "$B/bench-scale" "$SOCKBROKERD" "$W/f6" $sizes
fi

# 7: the shim's constructor: a program with nothing to rewrite, and one with
# an over-long argument that is no socket (the rule files are read).
fig7() {
	long=$W/$(printf 'd%.0s' $(seq 1 150))/x
	n=1000; [ -n "$QUICK" ] && n=60
	"$B/bench-exec" 7 "true a b c, shim vs none" 1.03 $n \
	    LD_PRELOAD="$SB_SHIM" /bin/true a b c ::: /bin/true a b c
	rules=$bench_srcdir/../shims/rewrite.d
	"$B/bench-exec" 7b "true 150 B arg vs true x, both shimmed" 2.0 $n \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_REWRITE_DIRS="$rules" /bin/true "$long" ::: \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_REWRITE_DIRS="$rules" /bin/true x
}
if want 7; then
	figure 7 fig7
fi

# 8: a process with the shim preloaded (broker mode, a broker running) vs
# without: fork+exec+wait of /bin/true, and of bench-connect1 making one
# short connect (to the broker's control socket: a real server that
# accepts). Nothing on their command lines is rewritten.
fig8() {
	broker_up "$W/f8" || return 1
	n=2000; [ -n "$QUICK" ] && n=100
	"$B/bench-exec" 8 "fork+exec+wait /bin/true, shim vs none" 1.03 $n \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker /bin/true ::: \
	    SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker /bin/true || return 1
	"$B/bench-exec" 8 "fork+exec+wait one short connect, shim vs none" 1.03 $n \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker \
	    "$B/bench-connect1" "$ROOT/control" ::: \
	    SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker "$B/bench-connect1" "$ROOT/control" || return 1
	# the same against a preload library that does nothing: the shim's own share
	E=$B/.libs/bench-empty-preload.so
	[ -f "$E" ] || { echo "no $E" >&2; return 1; }
	# issue 14: within 1.02x of the empty library; the page faults too
	"$B/bench-exec" --faults 8b "/bin/true, shim vs empty preload" 1.02 $n \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker /bin/true ::: \
	    LD_PRELOAD="$E" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker /bin/true || return 1
	"$B/bench-exec" --faults 8b "short connect, shim vs empty preload" 1.02 $n \
	    LD_PRELOAD="$SB_SHIM" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker \
	    "$B/bench-connect1" "$ROOT/control" ::: \
	    LD_PRELOAD="$E" SOCKBROKER_ROOT="$ROOT" SOCKBROKER_MODE=broker \
	    "$B/bench-connect1" "$ROOT/control"
}
if want 8; then
	figure 8 fig8
fi

# 9: QEMU from start to its QMP greeting under `sockbroker exec` with a
# 150-byte socket path vs plain QEMU with a short one (bench/qmp-greeting.sh).
fig9() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 && command -v socat >/dev/null 2>&1 ||
	    { echo "qemu-system-x86_64 or socat is not installed" >&2; return 1; }
	broker_up "$W/f9" || return 1
	long=$W/f9/$(printf 'v%.0s' $(seq 1 60))/$(printf 'm%.0s' $(seq 1 60))
	mkdir -p "$long"
	long=$long/qmp.sock
	n=40; [ -n "$QUICK" ] && n=4
	"$B/bench-exec" 9 "QEMU to QMP greeting, exec 150 B vs plain" 1.03 $n \
	    SOCKBROKER_REWRITE_DIRS="$bench_srcdir/../shims/rewrite.d" SOCKBROKER_SHIM="$SB_SHIM" \
	    "$SOCKBROKER" --root "$ROOT" exec --mode broker -- \
	    sh "$bench_srcdir/qmp-greeting.sh" "$long" ::: \
	    sh "$bench_srcdir/qmp-greeting.sh" "$W/f9/qmp.sock"
}
if want 9; then
	figure 9 fig9
fi

# 9b: swtpm from start to an answered `swtpm_ioctl -g`, the same comparison
# (bench/swtpm-ioctl.sh).
fig9b() {
	command -v swtpm >/dev/null 2>&1 && command -v swtpm_ioctl >/dev/null 2>&1 ||
	    { echo "swtpm or swtpm_ioctl (swtpm-tools) is not installed" >&2; return 1; }
	mkdir -p "$W/f9b/state-sb" "$W/f9b/state-plain"
	broker_up "$W/f9b" || return 1
	long=$W/f9b/$(printf 't%.0s' $(seq 1 60))/$(printf 'p%.0s' $(seq 1 60))
	mkdir -p "$long"
	long=$long/swtpm.sock
	n=100; [ -n "$QUICK" ] && n=10
	"$B/bench-exec" 9b "swtpm to swtpm_ioctl -g, exec 150 B vs plain" 1.15 $n \
	    SOCKBROKER_REWRITE_DIRS="$bench_srcdir/../shims/rewrite.d" SOCKBROKER_SHIM="$SB_SHIM" \
	    "$SOCKBROKER" --root "$ROOT" exec --mode broker -- \
	    sh "$bench_srcdir/swtpm-ioctl.sh" "$long" "$W/f9b/state-sb" ::: \
	    sh "$bench_srcdir/swtpm-ioctl.sh" "$W/f9b/swtpm.sock" "$W/f9b/state-plain"
}
if want 9; then
	figure 9 fig9b
fi
