#!/bin/bash
# SPDX-License-Identifier: ISC
# debian/libsockbroker0.symbols lists every symbol the version script
# exports, and nothing else: dpkg-gensymbols would otherwise write the
# new one in with the Debian revision (lintian's error), and a program
# built against it would not depend on the release that added it.
. "$top_srcdir/tests/lib.sh"

syms="$top_srcdir/debian/libsockbroker0.symbols"
[ -f "$syms" ] || skip "no debian/ in this tree (a dist tarball)"
map="$top_srcdir/libbroker/libsockbroker.sym"

exported=$(sed -n 's/^[[:space:]]*\(sb_[a-z0-9_]*\);$/\1/p' "$map" | sort)
listed=$(sed -n 's/^ \(sb_[a-z0-9_]*\)@LIBSOCKBROKER_0 .*/\1/p' "$syms" | sort)
[ -n "$exported" ] || fail "no symbols read from $map"
missing=$(comm -23 <(printf '%s\n' "$exported") <(printf '%s\n' "$listed"))
extra=$(comm -13 <(printf '%s\n' "$exported") <(printf '%s\n' "$listed"))
[ -z "$missing" ] || fail "exported but not in debian/libsockbroker0.symbols: $missing"
[ -z "$extra" ] || fail "in debian/libsockbroker0.symbols but not exported: $extra"
exit 0
