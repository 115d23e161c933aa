#!/bin/bash
# SPDX-License-Identifier: ISC
# sockbroker --version and sockbrokerd --version print the same package
# version (PACKAGE_VERSION, from configure.ac) and the same protocol version,
# in the same shape, so that a bug report names one release.
. "$top_srcdir/tests/lib.sh"

want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$want" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"
proto=$(sed -n 's/^#define SB_PROTO_VERSION[[:space:]]*\([0-9]*\).*/\1/p' "$top_srcdir/libbroker/sb-proto.h")
[ -n "$proto" ] || fail "no SB_PROTO_VERSION in libbroker/sb-proto.h"

cli=$("$SOCKBROKER" --version) || fail "sockbroker --version exited with $?"
daemon=$("$SOCKBROKERD" --version) || fail "sockbrokerd --version exited with $?"
assert_eq "$cli" "sockbroker $want (protocol $proto)" "sockbroker --version"
assert_eq "$daemon" "sockbrokerd $want (protocol $proto)" "sockbrokerd --version"
exit 0
