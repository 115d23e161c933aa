#!/bin/bash
# SPDX-License-Identifier: ISC
# cli-basic: every sockbroker command against a real sockbrokerd, with names
# and long paths; errors, exit codes, and the broker still serving after them.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
SB="$SOCKBROKER"

# --help, --version, usage errors, no broker
$SB --help | grep -q '^usage: sockbroker' || fail "--help"
$SB --version | grep -q '^sockbroker ' || fail "--version"
$SB frobnicate 2>"$T/err"; assert_eq $? 100 "unknown command exit"
assert_contains "$(cat "$T/err")" "unknown command 'frobnicate'" "unknown command message"
$SB 2>/dev/null; assert_eq $? 100 "no command exit"
$SB bind 2>/dev/null; assert_eq $? 100 "bind without key"
$SB bind k --type raw 2>"$T/err"; assert_eq $? 100 "bad --type"
$SB bind k --mode 999 2>/dev/null; assert_eq $? 100 "bad --mode"
$SB wait k --timeout -1 2>/dev/null; assert_eq $? 100 "negative --timeout"
$SB --root "$T/nobroker" status 2>"$T/err"; assert_eq $? 111 "no broker exit"
assert_contains "$(cat "$T/err")" "$T/nobroker/control" "no broker message names the control socket"

# path: a pure function, the same as the broker's answer
p_name=$($SB path tpm-vm1) || fail "path tpm-vm1"
case "$p_name" in "$ROOT"/??/*/sock) ;; *) fail "path tpm-vm1: $p_name" ;; esac
assert_eq "$($SB --root /other path tpm-vm1 | cut -d/ -f1-2)" "/other" "path --root"
[ ${#p_name} -lt 108 ] || fail "short path too long: $p_name"

# bind a name: prints the short path, a socket is there
sp=$($SB bind tpm-vm1 --listen) || fail "bind tpm-vm1"
assert_eq "$sp" "$p_name" "bind prints the short path"
[ -S "$sp" ] || fail "no socket at $sp"
assert_eq "$($SB resolve tpm-vm1)" "$sp" "resolve"
assert_eq "$($SB get tpm-vm1)" "$sp" "get prints the short path"
assert_eq "$($SB -q get tpm-vm1)" "" "-q prints nothing"
# a client can connect to the held, listening socket
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$sp" ||
	fail "connect to $sp"
# binding it again hands back the same socket (hold lifetime)
assert_eq "$($SB bind tpm-vm1 --listen)" "$sp" "bind again"

# types
sp_dg=$($SB bind dg.1 --type dgram) || fail "bind dgram"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])' "$sp_dg" ||
	fail "dgram connect"

# bind a long path: a symlink at the path points at the short path
long=$(sb_long_path vm-150.sock 150)
sp_long=$($SB bind "$long" --listen) || fail "bind long path"
assert_eq "$(readlink "$long")" "$sp_long" "symlink at the long path"
assert_eq "$sp_long" "$($SB path "$long")" "path of a long path"
[ -S "$long" ] || fail "test -S on the long path"
# a relative spelling is the same key
(cd "$(dirname "$long")" && assert_eq "$($SB resolve ./vm-150.sock)" "$sp_long" "relative path key")
# a real file at a path key: refused, the file is left alone
touch "$T/plain"
$SB bind "$T/plain" 2>"$T/err"; assert_eq $? 1 "bind over a file"
[ -f "$T/plain" ] && [ ! -L "$T/plain" ] || fail "the file was touched"
assert_contains "$(cat "$T/err")" "$T/plain" "bind over a file names the path"

# wait: blocks until another process binds, then prints the short path
$SB wait later --timeout 20 >"$T/wait.out" 2>"$T/wait.err" &
waiter=$!
sb_bg $waiter
# the waiter is connected once the broker counts two clients (it and us)
sb_wait_for sh -c "$SB status | grep -q '^clients: 2'" || fail "the waiter never connected"
kill -0 $waiter 2>/dev/null || fail "wait returned before the key existed"
sp_later=$($SB bind later) || fail "bind later"
wait $waiter; assert_eq $? 0 "wait exit"
assert_eq "$(cat "$T/wait.out")" "$sp_later" "wait prints the short path"
# an existing key does not wait
assert_eq "$($SB wait later --timeout 0)" "$sp_later" "wait on an existing key"
# timeout: exit 2
start=$(date +%s%N)
$SB wait never --timeout 0.3 2>"$T/err"; assert_eq $? 2 "wait timeout exit"
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ $el -ge 250 ] || fail "wait --timeout 0.3 returned after $el ms"
assert_contains "$(cat "$T/err")" "never" "wait timeout names the key"

# put: any fd under a name; get hands it to a command at --fd N
echo "hello from put" >"$T/putfile"
exec 7<"$T/putfile"
$SB put myfd --fd 7 || fail "put"
exec 7<&-
got=$($SB get myfd --fd 5 -- sh -c 'cat <&5') || fail "get myfd -- CMD"
assert_eq "$got" "hello from put" "the fd reached the command"
assert_eq "$($SB get myfd)" "" "get of an fd entry prints no short path"
assert_eq "$($SB resolve myfd)" "" "resolve of an fd entry prints no short path"
$SB put bad --fd 9 2>"$T/err"; assert_eq $? 100 "put of a closed fd"
assert_contains "$(cat "$T/err")" "fd 9" "put names the fd"
$SB put /a/path --fd 1 2>/dev/null; assert_eq $? 100 "put under a path"

# get -- CMD: LISTEN_* as systemd sets them; a name with ':' is sanitised
$SB bind a:b >/dev/null || fail "bind a:b"
env=$($SB get a:b -- sh -c 'echo "$LISTEN_FDS $LISTEN_FDNAMES $LISTEN_PID $$"; test -S /proc/self/fd/3 && echo socket')
set -- $env
assert_eq "$1" 1 "LISTEN_FDS"
assert_eq "$2" a_b "LISTEN_FDNAMES"
assert_eq "$3" "$4" "LISTEN_PID is the command's pid"
assert_eq "${5:-}" socket "fd 3 is the socket"
$SB get a:b -- /nonexistent/cmd 2>"$T/err"; assert_eq $? 127 "command not found"
assert_contains "$(cat "$T/err")" "/nonexistent/cmd" "exec failure names the command"

# list: text and JSON
out=$($SB list) || fail "list"
assert_contains "$(echo "$out" | head -1)" "SHORT PATH" "list header"
assert_contains "$out" "tpm-vm1" "list shows tpm-vm1"
assert_contains "$out" "myfd" "list shows myfd"
$SB list --json >"$T/list.json" || fail "list --json"
python3 "$top_srcdir/tests/cli-basic-json.py" "$T/list.json" "$long" "$sp_long" || fail "list --json content"

# status
st=$($SB status) || fail "status"
assert_contains "$st" "pid: $SB_PID" "status pid"
assert_contains "$st" "protocol: 1" "status protocol version"
assert_contains "$st" "entries: " "status entries"
assert_contains "$st" "uptime: " "status uptime"

# release: the entry, its socket and (path keys) the symlink go
$SB release tpm-vm1 || fail "release"
$SB get tpm-vm1 2>"$T/err"; assert_eq $? 1 "get after release"
assert_contains "$(cat "$T/err")" "sockbroker: get: tpm-vm1: " "get error names the key"
sb_wait_for test ! -e "$sp" || fail "socket left at $sp"
$SB release "$long" || fail "release long path"
[ ! -L "$long" ] || fail "symlink left at $long"
$SB release tpm-vm1 2>/dev/null; assert_eq $? 1 "release twice"

# bad keys: refused before the broker, naming the limit
$SB bind "$(printf 'n%.0s' $(seq 1 201))" 2>"$T/err"; assert_eq $? 100 "name of 201 bytes"
assert_contains "$(cat "$T/err")" "limit 200 bytes" "name limit"
$SB get 'bad key' 2>"$T/err"; assert_eq $? 100 "bad character"
assert_contains "$(cat "$T/err")" "allowed: A-Z a-z 0-9" "allowed characters"
$SB bind "$T/no/such/../x" 2>"$T/err"; assert_eq $? 100 "'..' in a path"
assert_contains "$(cat "$T/err")" '".."' "'..' message"
longer="/$(printf 'p%.0s' $(seq 1 250))"
while [ ${#longer} -le 4200 ]; do longer="$longer/$(printf 'p%.0s' $(seq 1 250))"; done
$SB bind "$longer" 2>"$T/err"; assert_eq $? 100 "path over 4095 bytes"
assert_contains "$(cat "$T/err")" "limit 4095 bytes" "path limit"
$SB resolve "" 2>/dev/null; assert_eq $? 100 "empty key"
# a path whose directory is missing: the broker is never asked, the link fails
$SB bind "$T/missing-dir/x.sock" 2>"$T/err"; assert_eq $? 1 "bind in a missing directory"
assert_contains "$(cat "$T/err")" "$T/missing-dir/x.sock" "missing directory names the path"

# the broker still serves
$SB status >/dev/null || fail "broker gone after bad requests"
assert_eq "$($SB resolve later)" "$sp_later" "still serving"
sb_stop
