#!/bin/bash
# SPDX-License-Identifier: ISC
# sockbrokerd refuses a runtime root that is too long for its short paths,
# owned by someone else, writable by group or others, or a symlink; the
# message names the root and the limit, the exit status is 111. Bad
# options exit 100.
. "$top_srcdir/tests/lib.sh"

refuse_root() {	# refuse_root ROOT WHAT NEEDLE
	local out rc
	out=$(timeout 10 "$SOCKBROKERD" --root "$1" 2>&1 </dev/null)
	rc=$?
	assert_eq "$rc" 111 "exit status for $2"
	assert_contains "$out" "$1" "the message for $2 names the root"
	assert_contains "$out" "$3" "the message for $2"
	sb_log "$2: $out"
}

# ROOT/xx/HASH/sock must fit in 107 bytes: the tail is 25 bytes
limit=$((107 - 25))
mk() { local d=$T/$1; while [ ${#d} -lt "$2" ]; do d=${d}x; done; printf '%s\n' "$d"; }
long=$(mk long $((limit + 1)))
refuse_root "$long" "a root of $((limit + 1)) bytes" "the limit is $limit bytes"
[ -e "$long" ] && fail "a refused root was created"
ok=$(mk ok $limit)
"$SOCKBROKERD" --root "$ok" --ready-fd 3 3>"$T/ready" 2>>"$T/broker.log" &
pid=$!
sb_wait_for test -s "$T/ready" || fail "a root of $limit bytes was not accepted"
kill -TERM $pid; wait $pid || fail "exit status after SIGTERM"

# a root of another uid: one made for uid 65534 as root, else one of root's
# (/usr/share: the broker must refuse it before it writes anything)
if [ "$(id -u)" = 0 ]; then
	mkdir "$T/other"; chown 65534 "$T/other"
	refuse_root "$T/other" "a root of another uid" "owned by uid 65534"
else
	refuse_root /usr/share "a root of another uid" "owned by uid 0"
fi
mkdir "$T/gw"; chmod 775 "$T/gw"
refuse_root "$T/gw" "a group-writable root" "0755 at most"
mkdir "$T/ow"; chmod 757 "$T/ow"
refuse_root "$T/ow" "an other-writable root" "0755 at most"
mkdir "$T/real"; ln -s real "$T/link"
refuse_root "$T/link" "a symlink root" "is a symlink"
refuse_root "relative/root" "a relative root" "not an absolute path"
mkdir "$T/ctl"; touch "$T/ctl/control"
refuse_root "$T/ctl" "a root whose control is a file" "is not a socket"

# usage errors: 100
timeout 10 "$SOCKBROKERD" --max-clients nope >/dev/null 2>&1; assert_eq "$?" 100 "a bad number"
timeout 10 "$SOCKBROKERD" --bogus >/dev/null 2>&1; assert_eq "$?" 100 "an unknown option"
timeout 10 "$SOCKBROKERD" extra >/dev/null 2>&1; assert_eq "$?" 100 "an extra argument"
timeout 10 "$SOCKBROKERD" --ready-fd 77 --root "$ROOT" >/dev/null 2>&1
assert_eq "$?" 100 "a closed ready fd"
"$SOCKBROKERD" --version | grep -q "^sockbrokerd " || fail "--version"
"$SOCKBROKERD" --help | grep -q "^usage: sockbrokerd" || fail "--help"

# the default root follows SOCKBROKER_ROOT
SOCKBROKER_ROOT=$T/envroot "$SOCKBROKERD" --ready-fd 3 3>"$T/ready2" 2>>"$T/broker.log" &
pid=$!
sb_wait_for test -S "$T/envroot/control" || fail "SOCKBROKER_ROOT was not used"
[ "$(stat -c %a "$T/envroot")" = 755 ] || fail "the root was not created 0755"
kill -TERM $pid; wait $pid || fail "exit status after SIGTERM"
exit 0
