#!/bin/bash
# SPDX-License-Identifier: ISC
# The shim's command-line rewriter with the rule files of this tree
# (SOCKBROKER_REWRITE_DIRS, as lib.sh sets it): the constructor rewrites
# the socket paths of each program's own grammar and nothing else.
# - a corpus of everyday command lines with unix:, path=, long text and long
#   paths that are not sockets comes out byte-identical, with no fd opened
#   and nothing printed, in direct mode and with a broker (issue 10);
# - git, grep and echo keep free text that looks like an address;
# - /proc/PID/cmdline after a rewrite holds no fragment of the long path;
# - SOCKBROKER_DEBUG says which over-long argument it left alone, and why;
# - a rule file in an earlier directory overrides (or masks) one of the
#   same name, and SOCKBROKER_REWRITE adds rules in the same syntax;
# - sockbroker explain says what would be rewritten, by which rule, and
#   runs nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need python3

ARGV="$top_builddir/tests/shim-argv"
[ -x "$ARGV" ] || fail "no $ARGV"
BIN="$T/bin"
mkdir -p "$BIN"
for p in git grep sed echo ssh make gcc python3 qemu-system-x86_64 qemu-img swtpm socat tmux \
	curl nc rm dbus-daemon redis-server passt virtiofsd qemu-nbd; do
	ln -s "$ARGV" "$BIN/$p"
done
LONGDIR=$(dirname "$(sb_long_path x 160)")
touch "$LONGDIR/disk.qcow2" "$LONGDIR/x"

# argv0 ARGS...: what $BIN/argv0 prints under the shim, one argument a line
printed() { "${SHIMMED[@]}" "$@" | tr '\0' '\n'; }

for mode in direct broker; do
	shim_mode $mode
	sb_log "mode $mode: the corpus"
	python3 "$top_srcdir/tests/shim-corpus.py" "$BIN" "$SB_SHIM" "$LONGDIR" 1500 \
		"$([ $mode = direct ] && echo 1 || echo 2)" >"$T/corpus.out" ||
		fail "$mode: $(cat "$T/corpus.out")"
	sb_log "$(tail -1 "$T/corpus.out")"

	# a socket path of a program's grammar is rewritten, in the same run
	L=$(sb_long_path "qmp-$mode.sock" 170)
	out=$(printed "$BIN/qemu-system-x86_64" -pidfile "$L" -qmp "unix:$L,server=on" 2>"$T/err") ||
		fail "$mode: qemu"
	[ -s "$T/err" ] && fail "$mode: the shim printed: $(cat "$T/err")"
	assert_contains "$out" "$L" "$mode: -pidfile kept"
	case "$(printf '%s\n' "$out" | sed -n 4p)" in
	unix:"$L"*) fail "$mode: -qmp was not rewritten: $out" ;;
	unix:*,server=on) ;;
	*) fail "$mode: -qmp: $out" ;;
	esac
done

sb_log "the generic client side: a static client given an existing long socket"
SHIM_PROG_STATIC="$top_builddir/tests/shim-prog-static"
if [ -x "$SHIM_PROG_STATIC" ]; then
	for mode in direct broker; do
		shim_mode $mode
		P=$(sb_long_path "static-$mode.sock" 170)
		shim_bg "$T/srv.out" "${SHIMMED[@]}" "$SHIM_PROG" serve "$P"
		srv=$SHIM_BG_PID
		shim_wait_line "$T/srv.out" ready || fail "$mode: server not ready: $(cat "$T/shim.log")"
		# no rule names "call"'s argument: it is rewritten because it is a socket
		out=$(SOCKBROKER_SHIM="$SB_SHIM" "$SOCKBROKER" exec --mode $mode -- \
			"$SHIM_PROG_STATIC" call "$P" generic 2>>"$T/shim.log") ||
			fail "$mode: the static client: $(tail -3 "$T/shim.log")"
		assert_eq "$out" generic "$mode: a static client of an existing long socket"
		wait $srv || fail "$mode: server failed"
		# not a socket: left alone, and the static client fails as it would
		out=$(SOCKBROKER_SHIM="$SB_SHIM" "$SOCKBROKER" exec --mode $mode -- \
			"$SHIM_PROG_STATIC" call "$P.none" x 2>&1) && fail "$mode: $P.none: $out"
		assert_contains "$out" "$P.none" "$mode: a path that is no socket is left as it is"
	done
fi

sb_log "real programs keep free text"
M="Unix: fix the handling of $(sb_long_path sock 170) (unix:$(sb_long_path x 150))"
: >"$T/err"
if command -v git >/dev/null 2>&1; then
	git init -q "$T/repo" && git -C "$T/repo" config user.email t@example.org &&
		git -C "$T/repo" config user.name t || fail "git init"
	shimmed git -C "$T/repo" commit -q --allow-empty -m "$M" 2>"$T/err" || fail "git commit"
	assert_eq "$(git -C "$T/repo" log -1 --format=%B | head -1)" "$M" "git commit -m under the shim"
else
	sb_log "git is not installed: that part is skipped"
fi
printf '%s\n' "$M" >"$T/grep.in"
assert_eq "$(shimmed grep -c "unix:$(sb_long_path x 150)" "$T/grep.in" 2>>"$T/err")" 1 "grep under the shim"
assert_eq "$(shimmed /bin/echo "$M" 2>>"$T/err")" "$M" "/bin/echo under the shim"
[ -s "$T/err" ] && fail "the shim printed: $(cat "$T/err")"

sb_log "/proc/PID/cmdline after a rewrite"
L=$(sb_long_path "cmdline.sock" 200)
mkfifo "$T/hold"
SHIM_ARGV_WAIT=1 "${SHIMMED[@]}" "$BIN/curl" -s --unix-socket "$L" http://x/ <"$T/hold" >"$T/curl.out" &
pid=$!
sb_bg $pid
exec 7>"$T/hold"
sb_wait_for grep -q fds "$T/curl.out" || fail "curl (shim-argv) did not start"
tr '\0' '\n' <"/proc/$pid/cmdline" >"$T/cmdline"
grep -q "dddddddddd" "$T/cmdline" && fail "the long path is left in /proc/$pid/cmdline: $(cat -v "$T/cmdline")"
assert_eq "$(sed -n 1,4p "$T/cmdline" | tr '\n' ' ')" \
	"$BIN/curl -s --unix-socket $(tr '\0' '\n' <"$T/curl.out" | sed -n 3p) " "cmdline"
[ "$(sed -n '5,$p' "$T/cmdline" | tr -d '\n')" = "http://x/" ] || fail "cmdline tail: $(cat -v "$T/cmdline")"
exec 7>&-
wait $pid

sb_log "SOCKBROKER_DEBUG: what was left alone, and why"
L=$(sb_long_path "debug.sock" 150)
SOCKBROKER_DEBUG=1 shimmed "$BIN/qemu-system-x86_64" -pidfile "$L" -drive "file=$L.qcow2" \
	-chardev "socket,id=c,path=$L" >/dev/null 2>"$T/err" || fail "qemu (debug)"
assert_contains "$(cat "$T/err")" "left argument 2 '$L' alone: its rule says it is never a socket path" "debug: -pidfile"
assert_contains "$(cat "$T/err")" "left argument 4 'file=$L.qcow2' alone: no socket path in it" "debug: -drive"
assert_contains "$(cat "$T/err")" "rewrote '$L' -> " "debug: -chardev"
SOCKBROKER_DEBUG=1 shimmed "$BIN/echo" "unix:$L" >/dev/null 2>"$T/err" || fail "echo (debug)"
assert_contains "$(cat "$T/err")" "alone: no rule names it, and it is not an existing socket" "debug: echo"

sb_log "rule directories and SOCKBROKER_REWRITE"
mkdir -p "$T/etc"
: >"$T/etc/qemu.rules"	# masks the packaged qemu.rules
out=$(SOCKBROKER_REWRITE_DIRS="$T/etc:$SOCKBROKER_REWRITE_DIRS" printed "$BIN/qemu-system-x86_64" \
	-qmp "unix:$L,server=on") || fail "qemu (masked)"
assert_contains "$out" "unix:$L,server=on" "an empty qemu.rules in the first directory masks it"
echo 'qemu-system-* -mysock server path' >"$T/etc/qemu.rules"
out=$(SOCKBROKER_REWRITE_DIRS="$T/etc:$SOCKBROKER_REWRITE_DIRS" printed "$BIN/qemu-system-x86_64" \
	-mysock "$L") || fail "qemu (override)"
case "$out" in *"$L"*) fail "the overriding rule did not apply: $out" ;; esac
out=$(SOCKBROKER_REWRITE='git --sock client path' printed "$BIN/git" --sock "$L" x "$L") ||
	fail "git (SOCKBROKER_REWRITE)"
assert_eq "$(printf '%s\n' "$out" | grep -c -x -F "$L")" 1 "SOCKBROKER_REWRITE: only --sock's value"
out=$(SOCKBROKER_REWRITE='opt:--sock' printed "$BIN/git" --sock="$L") || fail "git (opt:)"
case "$out" in *"$L"*) fail "SOCKBROKER_REWRITE=opt:--sock did not apply: $out" ;; esac
sb_log "sockbroker explain"
L=$(sb_long_path "explain.sock" 160)
out=$("$SOCKBROKER" explain -- "$BIN/qemu-system-x86_64" -chardev "socket,id=c,path=$L,server=on" \
	-pidfile "$L" -drive "file=$L.qcow2") || fail "explain"
S=$(SOCKBROKER_MODE=broker shim_short "$L")
assert_contains "$out" "program: qemu-system-x86_64" "explain: the program"
assert_contains "$out" "argv[2]: rewrite '$L'
    -> '$S' (server)
    rule $SOCKBROKER_REWRITE_DIRS/qemu.rules:" "explain: the rewrite and its rule"
assert_contains "$out" "argv[4]: leave '$L' alone: its rule says it is never a socket path" "explain: -pidfile"
assert_contains "$out" "argv[6]: leave 'file=$L.qcow2' alone: no socket path in it" "explain: -drive"
assert_contains "$out" "1 rewritten; the command would run as:
  $BIN/qemu-system-x86_64
  -chardev
  socket,id=c,path=$S,server=on" "explain: the command line"
[ -e "$L" ] && fail "explain made something at $L"
out=$("$SOCKBROKER" explain --mode direct -- "$BIN/curl" --unix-socket "$L") || fail "explain --mode direct"
assert_contains "$out" "-> '/proc/self/fd/N/explain.sock' (client)" "explain --mode direct"
out=$("$SOCKBROKER" explain -- git commit -m "unix:$L") || fail "explain git"
assert_contains "$out" "no rule names it, and it is not an existing socket" "explain: free text"
assert_contains "$out" "0 rewritten" "explain: free text"
out=$("$SOCKBROKER" explain -- qemu-system-x86_64 -readconfig "$T/qemu.conf") || fail "explain -readconfig"
assert_contains "$out" "-readconfig '$T/qemu.conf': a QEMU config file" "explain -readconfig"
out=$("$SOCKBROKER" explain echo hi) || fail "explain echo"
assert_contains "$out" "nothing to rewrite" "explain echo"
"$SOCKBROKER" explain >/dev/null 2>&1; assert_eq $? 100 "explain without CMD"
"$SOCKBROKER" help explain | grep -q "without running it" || fail "help explain"
exit 0
