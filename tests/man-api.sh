#!/bin/bash
# SPDX-License-Identifier: ISC
# libsockbroker(3) names everything sockbroker.h gives a program: every
# function, type, struct member, enum constant and macro (a page that left
# out sb_list_cb's signature or a struct's members could not be written
# from). A name added to the header and not to the page fails here.
. "$top_srcdir/tests/lib.sh"
need python3

python3 "$top_srcdir/tests/man-api.py" "$top_srcdir/libbroker/sockbroker.h" "$top_builddir/man/libsockbroker.3" ||
	fail "libsockbroker(3) misses names of sockbroker.h (above)"
exit 0
