#!/bin/bash
# SPDX-License-Identifier: ISC
# Entry directories are the broker's (hard-adopt.py, as uid 65534): with
# ADOPT the broker binds the client's own socket in a directory of its
# own, which the client can neither write nor change (no file, no tree,
# no rename, no chmod), the socket file being the client's; a name, a path
# key (proof and socket in one message) and a datagram socket. A BIND
# LISTEN on an ADOPTed socket is refused (connectors would see the
# broker's SO_PEERCRED, not the client's). A tree
# planted some other way (in a prepared directory, 64 levels deep, with
# fifos, sockets and symlinks out of it) is removed whole at release, the
# symlinks' targets untouched, and the key can be bound again.
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
export PYTHONPATH="$top_srcdir/tests" SOCKBROKER_ROOT="$ROOT"
H="$top_srcdir/tests/hard-adopt.py"
sb_start
chmod 755 "$T"
mkdir "$T/nobody"
chown 65534:65534 "$T/nobody"

$SB_NOBODY $PY "$H" adopt "$T/nobody" || fail "ADOPT as uid 65534"
# the broker never listens on a client's socket (its creds would be the peer's)
$SB_NOBODY $PY "$H" spoof spoof || fail "a LISTEN on an ADOPTed socket"

echo precious >"$T/target"
d=$($SB_NOBODY $PY "$H" plant deep 64 "$T/target") || fail "planting a tree"
[ -d "$d/d/d/d" ] || fail "no tree in $d"
"$SOCKBROKER" status >/dev/null || fail "root is not served"
$SB_NOBODY "$SOCKBROKER" release deep || fail "release deep"
sb_wait_for test ! -e "$d" || fail "the 64-level tree in $d is left"
sb_wait_for sh -c "! ls -a '$(dirname "$d")' | grep -q '^\.trash'" ||
	fail "trash is left in $(dirname "$d")"
assert_eq "$(cat "$T/target")" precious "the target of a planted symlink"
"$SOCKBROKER" bind deep --listen >/dev/null || fail "the key cannot be bound again"
[ "$(stat -c %u "$d")" = 0 ] || fail "the new directory of deep is not the broker's"
exit 0
