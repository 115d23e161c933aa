#!/bin/bash
# SPDX-License-Identifier: ISC
# Every man page, as built from its template, is clean for mandoc -Tlint at
# warning level (sections in their conventional order, a new sentence on a
# new line, SEE ALSO sorted, no broken macro), and .Os is not empty.
. "$top_srcdir/tests/lib.sh"
need mandoc

pages=$(ls "$top_builddir"/man/*.[1-9] 2>/dev/null)
[ -n "$pages" ] || fail "no built man pages in $top_builddir/man"
bad=0
for p in $pages; do
	out=$(mandoc -Tlint -W warning "$p" 2>&1)
	if [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		bad=1
	fi
	grep -q '^\.Os .' "$p" || { echo "$p: .Os names no system" >&2; bad=1; }
	grep -n '@[a-zA-Z_]*@' "$p" >&2 && { echo "$p: a template variable is left" >&2; bad=1; }
done
[ "$bad" = 0 ] || fail "mandoc -Tlint found warnings (above)"
sb_log "$(echo $pages | wc -w) pages clean"
exit 0
