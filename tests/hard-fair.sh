#!/bin/bash
# SPDX-License-Identifier: ISC
# Fair limits against several uids. One person with a subordinate uid
# range (uid 4242, 100000-165535 in a --subuid file) uses 16 of its uids:
# together they get no more clients and entries than one uid may have,
# while another user still gets its own. Then 40 distinct uids fill every
# client and entry slot they can: root still connects and binds (a reserve
# is kept for it), where before a full broker refused root too.
. "$top_srcdir/tests/lib.sh"
need python3
[ "$(id -u)" = 0 ] || skip "needs root (many uids)"
export PYTHONPATH="$top_srcdir/tests"
printf 'someone:100000:65536\n4242:100000:65536\n' >"$T/subuid"
chmod 755 "$T"
sb_start --subuid "$T/subuid" --max-clients 64 --max-clients-per-uid 8 \
	--max-entries 64 --max-entries-per-uid 4

python3 "$top_srcdir/tests/hard-fair.py" || fail "fair limits"
exit 0
