#!/bin/bash
# SPDX-License-Identifier: ISC
# The package lists agree: scripts/debian-packages (what CI installs: the
# build and the whole test suite) holds every package of
# scripts/debian-packages-build (what building needs) and every package
# debian/control builds with, and debian/control's Build-Depends without
# <!nocheck> are what scripts/debian-packages-build says building needs.
# Test packages of scripts/debian-packages missing from debian/control are
# listed in the log: dpkg-buildpackage's run of the suite skips their tests.
. "$top_srcdir/tests/lib.sh"

S=$top_srcdir
[ -f "$S/debian/control" ] || skip "no debian/ in this tree (a release tarball)"
pkgs() { grep -v '^[[:space:]]*\(#\|$\)' "$1" | sort -u; }
# Build-Depends of debian/control, one a line: NAME or NAME!nocheck
control() {
	sed -n '/^Build-Depends:/,/^[^ ]/p' "$S/debian/control" | grep -v '^[[:space:]]*#' |
	sed 's/^Build-Depends://' | tr ',' '\n' |
	sed -n 's/^[[:space:]]*\([a-z0-9][a-z0-9+.-]*\)[^<]*\(<!nocheck>\)\{0,1\}.*/\1\2/p' |
	sed 's/<!nocheck>/!nocheck/' | sort -u
}
all=$(pkgs "$S/scripts/debian-packages")
build=$(pkgs "$S/scripts/debian-packages-build")
ctl=$(control)
[ -n "$ctl" ] || fail "no Build-Depends in debian/control"

missing=$(comm -23 <(printf '%s\n' "$build") <(printf '%s\n' "$all"))
[ -z "$missing" ] || fail "in scripts/debian-packages-build, not in scripts/debian-packages: $missing"

# debian/control's names, debhelper-compat being the debhelper package
names=$(printf '%s\n' "$ctl" | sed 's/!nocheck$//; s/^debhelper-compat$/debhelper/' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$names") <(printf '%s\n' "$all"))
[ -z "$missing" ] || fail "in debian/control, not in scripts/debian-packages (CI would not install them): $missing"

# what building needs: control's plain Build-Depends, plus what
# dpkg-buildpackage itself and autoreconf need
plain=$( { printf '%s\n' "$ctl" | grep -v '!nocheck$' | sed 's/^debhelper-compat$/debhelper/';
	printf '%s\n' build-essential dpkg-dev autoconf automake libtool; } | sort -u)
diff <(printf '%s\n' "$plain") <(printf '%s\n' "$build") >"$T/diff" ||
	fail "debian/control's Build-Depends (<) and scripts/debian-packages-build (>) differ: $(grep '^[<>]' "$T/diff" | tr '\n' ' ')"

notest=$(comm -23 <(printf '%s\n' "$all") <(printf '%s\n' "$names" build-essential dpkg-dev autoconf automake libtool | sort -u))
sb_log "in scripts/debian-packages only (not needed by dpkg-buildpackage's test run, or to be added to debian/control with <!nocheck>):" $notest
exit 0
