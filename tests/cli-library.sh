#!/bin/bash
# SPDX-License-Identifier: ISC
# cli-library: libsockbroker.so from a small C program (cli-libtest) against
# a real broker: bind (name and long path), get, resolve, wait, list,
# status, threads, release.
. "$top_srcdir/tests/lib.sh"

sb_start
long=$(sb_long_path lib-long.sock 200)
out=$("$top_builddir/tests/cli-libtest" "$long" 2>&1) || fail "cli-libtest: $out"
assert_eq "$out" ok "cli-libtest"
# it really used the shared library
bin="$top_builddir/tests/.libs/cli-libtest"
[ -f "$bin" ] || bin="$top_builddir/tests/cli-libtest"
[[ "$(ldd "$bin" 2>&1)" == *libsockbroker.so* ]] || fail "not linked with libsockbroker.so"
"$SOCKBROKER" status >/dev/null || fail "broker still serving"
sb_stop
