#!/bin/bash
# SPDX-License-Identifier: ISC
# --fdholder at its limits, with a real s6-fdholderd: past the holder's -n
# cap one warning, the entries that fit come back after a restart and the
# rest are released, said once each; a holder that never answers costs a
# warning, not the broker: requests are still served.
. "$top_srcdir/tests/lib.sh"
need python3 s6-fdholder-daemon s6-fdholder-list

uid=$(id -u)
mkdir -p "$T/rules/uid/$uid/env"
: >"$T/rules/uid/$uid/allow"
echo '^sockbroker:' >"$T/rules/uid/$uid/env/S6_FDHOLDER_STORE_REGEX"
echo '^sockbroker:' >"$T/rules/uid/$uid/env/S6_FDHOLDER_RETRIEVE_REGEX"
echo 1 >"$T/rules/uid/$uid/env/S6_FDHOLDER_LIST"
mkfifo "$T/fdh-ready"
s6-fdholder-daemon -1 -n 5 -i "$T/rules" "$T/fdh" >"$T/fdh-ready" 2>>"$T/broker.log" &
sb_bg $!
read -r -t 20 _ <"$T/fdh-ready" || fail "s6-fdholderd did not become ready"
SB="$SOCKBROKER"

# 1. the cap: the control socket and 4 entries fit in 5
sb_start --fdholder "$T/fdh"
for i in 1 2 3 4 5 6 7 8; do
	$SB bind "cap-$i" --listen >/dev/null || fail "bind cap-$i"
done
assert_eq "$(grep -c 'is full' "$T/broker.log")" 1 "one warning past the holder's cap"
assert_eq "$(s6-fdholder-list "$T/fdh" | grep -c "^sockbroker:$ROOT/")" 5 "ids in the holder"
sb_stop
sb_start --fdholder "$T/fdh"
assert_eq "$(grep -c 'did not come back: released' "$T/broker.log")" 4 "the entries past the cap"
for i in 1 2 3 4; do
	$SB resolve "cap-$i" >/dev/null || fail "cap-$i did not come back"
done
# a release makes room in the holder: the next bind is stored
$SB release cap-1 || fail "release cap-1"
assert_eq "$(s6-fdholder-list "$T/fdh" | grep -c "^sockbroker:$ROOT/")" 4 "ids after a release"
$SB bind cap-9 --listen >/dev/null || fail "bind cap-9"
assert_eq "$(s6-fdholder-list "$T/fdh" | grep -c "^sockbroker:$ROOT/")" 5 "ids after the restart"
sb_stop

# 2. a holder that accepts and never answers
python3 "$top_srcdir/tests/daemon-fdholder-mute.py" "$T/mute" "$T/mute-ready" &
sb_bg $!
sb_wait_for test -s "$T/mute-ready" || fail "the mute holder did not start"
: >"$T/broker.log"
sb_start --root "$T/root2" --fdholder "$T/mute"
export SOCKBROKER_ROOT="$T/root2"
for i in 1 2 3; do
	$SB bind "mute-$i" --listen >/dev/null || fail "bind mute-$i with a mute holder"
done
$SB status >/dev/null || fail "the broker stopped serving"
# a warning, then the holder is left alone for 10 s: not one per request
n=$(grep -c 's6-fdholderd at .*unable to' "$T/broker.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "$n warnings for a mute holder: $(cat "$T/broker.log")"
exit 0
