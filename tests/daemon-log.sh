#!/bin/bash
# SPDX-License-Identifier: ISC
# The broker's log: plain "sockbrokerd: ..." lines on a terminal or a file,
# sd-daemon(3) priority prefixes and no "sockbrokerd:" when stderr is the
# journal (JOURNAL_STREAM names its device and inode); a refusal is logged
# at info level without -v, with the uid, the key and the rule, and a flood
# of refusals from one uid gives a few lines, not one per refusal, while the
# broker keeps serving.
. "$top_srcdir/tests/lib.sh"
need python3 stat
export PYTHONPATH="$top_srcdir/tests"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

if [ "$(id -u)" -eq 0 ]; then
	AS="$SB_NOBODY"
	uid=65534
	$AS true 2>/dev/null || skip "setpriv cannot switch to uid 65534"
else
	AS=
	uid=$(id -u)
fi
SB="$SOCKBROKER"

# 1. plain text: quota refusals of one uid, as the CLI gets them
sb_start --max-entries-per-uid 2
$AS "$SB" bind log-a >/dev/null || fail "bind log-a"
$AS "$SB" bind log-b >/dev/null || fail "bind log-b"
$AS "$SB" bind log-c 2>"$T/err"; assert_eq $? 1 "bind over the quota"
# the broker logs before it answers: the line is there now
line=$(grep 'refused' "$T/broker.log") || fail "no refusal in the log (without -v)"
assert_eq "$(printf '%s\n' "$line" | wc -l)" 1 "one line for one refusal"
case "$line" in
"sockbrokerd: refused uid $uid pid "*) ;;
*) fail "refusal line: '$line'" ;;
esac
assert_contains "$line" "log-c" "the refusal names the key"
assert_contains "$line" "--max-entries-per-uid" "the refusal names the rule"
assert_contains "$line" "EDQUOT" "the refusal names the error"

# 2. a flood: 500 refused binds on one connection, as fast as it can
$AS $PY "$top_srcdir/tests/daemon-log-flood.py" "$ROOT" || fail "the flood"
n=$(grep -c "refused uid $uid " "$T/broker.log")
# 3 a window of 10 s; 7 if the flood crosses one (a slow sanitizer build)
[ "$n" -le 7 ] || fail "$n refusal lines of uid $uid for 501 refusals"
$SB status >/dev/null || fail "the broker stopped serving after the flood"
# once the window is over the broker says how many it left out, without
# another refusal to make it: every one of the 501 is accounted for
accounted() {
	local lines more
	lines=$(grep -c "refused uid $uid " "$T/broker.log")
	more=$(sed -n "s/.* \([0-9]*\) more refusals of uid $uid not logged.*/\1/p" "$T/broker.log" |
		awk '{ n += $1 } END { print n + 0 }')
	[ $((lines + more)) -eq 501 ]
}
for i in $(seq 1 300); do	# the window is 10 s: up to 30 s
	accounted && break
	sleep 0.1
done
accounted || fail "the refusals left out were never counted: $(grep 'refus' "$T/broker.log")"
sb_stop
grep -q '^sockbrokerd: stopped$' "$T/broker.log" || fail "plain 'stopped' line"
grep -q '^<' "$T/broker.log" && fail "priority prefixes outside the journal"

# 3. stderr is the journal: "<N>" prefixes, no "sockbrokerd:"
mv "$T/broker.log" "$T/plain.log"
: >"$T/broker.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/broker.log")
export JOURNAL_STREAM
sb_start --max-entries-per-uid 2
unset JOURNAL_STREAM
# (the held sockets of the first broker did not survive its stop: no entries)
$AS "$SB" bind log-d >/dev/null || fail "bind log-d"
$AS "$SB" bind log-e >/dev/null || fail "bind log-e"
$AS "$SB" bind log-f 2>/dev/null; assert_eq $? 1 "bind over the quota (journal)"
sb_stop
grep -q "^<6>refused uid $uid pid .*log-f" "$T/broker.log" || fail "no <6> refusal line"
grep -q '^<6>stopped$' "$T/broker.log" || fail "no <6>stopped line"
grep -q 'sockbrokerd:' "$T/broker.log" && fail "the journal's identifier repeated"
grep -v '^<[3-7]>' "$T/broker.log" && fail "a journal line without a priority"

# 4. JOURNAL_STREAM of another stream (inherited, stderr redirected): plain
mv "$T/broker.log" "$T/journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.log")
export JOURNAL_STREAM
sb_start
unset JOURNAL_STREAM
sb_stop
grep -q '^sockbrokerd: stopped$' "$T/broker.log" || fail "plain lines when stderr is not the journal"
exit 0
