#!/bin/bash
# SPDX-License-Identifier: ISC
# cli-perms: a second uid is refused what an entry's mode does not allow,
# with a message that names the key, and allowed what it does, also
# through a supplementary group.
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

# a supplementary group of the client (not its primary one) counts: the
# group bits of an entry of that group apply, and it may give an entry that
# group; without the group, the other bits
SB_GRP="setpriv --reuid=65534 --regid=65534 --groups=4243"
$SB bind grp --listen --mode 0670 --group 4243 >/dev/null || fail "bind grp"
$SB_GRP "$SB" get grp -- true || fail "a member of group 4243 gets grp (0670)"
$SB_NOBODY "$SB" get grp -- true 2>"$T/err"; assert_eq $? 1 "a stranger gets grp"
$SB_GRP "$SB" bind grp2 --group 4243 --mode 0660 >/dev/null || fail "a member binds with its group"
$SB_NOBODY "$SB" bind grp3 --group 4243 2>"$T/err"; assert_eq $? 1 "a stranger binds with group 4243"
assert_contains "$(cat "$T/err")" "not in group 4243" "the refusal names the group"
$SB_GRP "$SB" get grp -- true || fail "the same group, asked again"
$SB status >/dev/null || fail "broker still serving"
sb_stop
