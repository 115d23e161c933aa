#!/bin/bash
# SPDX-License-Identifier: ISC
# Access rules and quotas with a second uid (SB_NOBODY): deny by default,
# owner and root may do anything, others get/resolve/wait only as the mode
# allows; list shows only what one may see; per-uid entry and client caps.
. "$top_srcdir/tests/lib.sh"
need python3 setpriv

sb_start --max-entries-per-uid 2 --max-clients-per-uid 3
export PYTHONPATH="$top_srcdir/tests"
# a python3 that the second uid may run (not one under /root)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SBP="$PY $top_srcdir/tests/sbproto.py"
$SB_NOBODY $PY -c '' 2>/dev/null || skip "setpriv cannot run $PY as uid 65534 here"

# root's entries: 0600 (private) and 0666 (for everyone)
$SBP bind key=priv flags=1 mode=0600 >/dev/null || fail "bind priv"
$SBP bind key=pub flags=1 mode=0666 >/dev/null || fail "bind pub"
$SBP bind key=grp flags=1 mode=0660 gid=65534 >/dev/null || fail "bind grp"
$SBP bind key=grpx flags=1 mode=0670 gid=65534 >/dev/null || fail "bind grpx"
exec 7>"$T/f"
$SBP put key=privfd --fd 7 >/dev/null || fail "put privfd"

nobody() { $SB_NOBODY $SBP "$@"; }
refused() {	# refused ERRNO-NAME OP ARGS...
	local want=$1 out
	shift
	out=$(nobody "$@") && fail "nobody: $* was allowed: $out"
	assert_contains "$out" "($want)" "nobody: $*"
	sb_log "refused as it should: $* -> $out"
}
allowed() {
	local out
	out=$(nobody "$@") || fail "nobody: $* was refused: $out"
}

# no right at all: told what it would be told of a key no one bound
for op in get resolve release; do
	refused ENOENT $op key=priv
	refused ENOENT $op key=privfd
done
refused ETIMEDOUT wait key=priv timeout_ms=100
refused EACCES put key=priv --fd 0
refused EACCES put key=privfd --fd 0
refused EACCES bind key=priv
refused EPERM bind key=mine gid=0
list=$(nobody list) || fail "nobody list"
case "$list" in *priv*) fail "nobody sees root's private entries: $list" ;; esac
assert_contains "$list" "key=pub" "nobody lists pub"

# mode 0666 lets others connect: resolve, wait; never get (accept), release or put over
refused EACCES get key=pub
allowed resolve key=pub
allowed wait key=pub timeout_ms=100
refused EACCES release key=pub
refused EACCES put key=pub --fd 0
# group: nobody is in gid 65534; w lets it connect, x get
refused EACCES get key=grp
allowed resolve key=grp
allowed get key=grpx
assert_contains "$list" "key=grp" "nobody lists grp"

# nobody's own entries, and its quota of 2
allowed bind key=n1 flags=1
allowed bind key=n2 flags=1 mode=0600
out=$(nobody bind key=n3) && fail "the third entry of nobody was allowed"
assert_contains "$out" "(EDQUOT)" "entry quota errno"
assert_contains "$out" "uid 65534 has 2 entries: the limit is 2 (--max-entries-per-uid)" "quota message"
assert_contains "$out" "limit=2" "quota LIMIT field"
# root is not capped per uid
for k in r1 r2 r3; do $SBP bind key=$k >/dev/null || fail "root bind $k"; done
# root may do anything to nobody's entries; nobody to its own
$SBP get key=n2 >/dev/null || fail "root get n2"
allowed release key=n1
$SBP release key=n2 >/dev/null || fail "root release n2"

# a client cap of 3 for nobody
$SB_NOBODY $PY "$top_srcdir/tests/daemon-access-cap.py" || fail "client cap"
sb_stop

# an idle client is dropped after --client-timeout
sb_start --client-timeout 1
python3 "$top_srcdir/tests/daemon-access-idle.py" || fail "idle timeout"
grep -q "idle for 1000 ms: dropped" "$T/broker.log" || fail "no log line for the idle client"
sb_stop
