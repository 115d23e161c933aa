#!/bin/bash
# SPDX-License-Identifier: ISC
# cli-perms: a second uid is refused what an entry's mode does not allow,
# with a message that names the key, and allowed what it does.
. "$top_srcdir/tests/lib.sh"
need setpriv python3
[ "$(id -u)" = 0 ] || skip "needs root"

sb_start
SB="$SOCKBROKER"
$SB bind private --listen >/dev/null || fail "bind private"
sp_pub=$($SB bind public --listen --mode 0666) || fail "bind public"
sp_shared=$($SB bind shared --listen --mode 0667) || fail "bind shared"

$SB_NOBODY "$SB" get private 2>"$T/err"; assert_eq $? 1 "nobody get private"
assert_contains "$(cat "$T/err")" "sockbroker: get: private: " "refusal names the key"
$SB_NOBODY "$SB" get private -- true 2>/dev/null; assert_eq $? 1 "nobody get private -- CMD"
$SB_NOBODY "$SB" release private 2>"$T/err"; assert_eq $? 1 "nobody release private"
assert_contains "$(cat "$T/err")" "private" "release refusal names the key"
$SB resolve private >/dev/null || fail "private entry gone after a refused release"

# 0666 lets nobody connect, not accept: no get of the listening socket
$SB_NOBODY "$SB" get public 2>"$T/err"; assert_eq $? 1 "nobody get public (0666)"
assert_contains "$(cat "$T/err")" "x bit" "the refusal says which right gets the fd"
assert_eq "$($SB_NOBODY "$SB" resolve public)" "$sp_pub" "nobody resolve public"
assert_eq "$($SB_NOBODY "$SB" get shared)" "$sp_shared" "nobody get shared (0667)"
# with the x bit nobody receives the socket itself and can serve on it
got=$(SP="$sp_shared" $SB_NOBODY "$SB" get shared -- python3 -c '
import socket, os
s = socket.socket(fileno=3)
c = socket.socket(socket.AF_UNIX); c.connect(os.environ["SP"]); a, _ = s.accept()
c.sendall(b"x"); print(a.recv(1).decode())
') || fail "nobody serving on the public socket"
assert_eq "$got" x "nobody exchanges data on the public socket"
$SB_NOBODY "$SB" release public 2>/dev/null; assert_eq $? 1 "nobody may not release root's public entry"

# nobody's own entries are nobody's; root may release them
$SB_NOBODY "$SB" bind nobodys >/dev/null || fail "nobody bind"
$SB list --json | python3 -c '
import json, sys
e = [e for e in json.load(sys.stdin) if e["key"] == "nobodys"][0]
assert e["uid"] == 65534, e
' || fail "owner uid of nobody's entry"
# a path nobody cannot write: no link, no claim
$SB_NOBODY "$SB" bind "$T/root-only.sock" 2>"$T/err"; assert_eq $? 1 "nobody bind in a root-only directory"
assert_contains "$(cat "$T/err")" "$T/root-only.sock" "names the path"
$SB release nobodys || fail "root releases nobody's entry"
$SB status >/dev/null || fail "broker still serving"
sb_stop
