#!/bin/bash
# SPDX-License-Identifier: ISC
# A request by key alone never reaches another view's claim of a path key
# (as root, with uids 65534, 4242 and 4243, in private mount namespaces):
# a claim made in a private view is no one else's answer to get, resolve or
# wait by key; a client reaches the host's claim, or the one its own view's
# link names; root may release a key's only claim. hard-view-hijack.py.
. "$top_srcdir/tests/lib.sh"
need python3 setpriv unshare nsenter mount
[ "$(id -u)" = 0 ] || skip "needs root (mount namespaces, other uids)"
unshare -m true 2>/dev/null || skip "cannot make a mount namespace here"
sb_start
export PYTHONPATH="$top_srcdir/tests" SOCKBROKER T
python3 "$top_srcdir/tests/hard-view-hijack.py" || fail "a request by key alone reached another view's claim"
