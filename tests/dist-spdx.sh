#!/bin/bash
# SPDX-License-Identifier: ISC
# Every tracked source file carries "SPDX-License-Identifier: ISC" in its
# first three lines (after a #! line): C, headers, shell, Python, *.am,
# configure.ac, templates (*.in), version scripts, rule files, valgrind
# suppressions, and every script with a #! line. Data (test corpora,
# package lists, s6's one-value files) and documents (README, NEWS,
# LICENSE, debian/copyright, which states the licence itself) are not
# source. A file added without the line fails here.
. "$top_srcdir/tests/lib.sh"
need git
# the tree must be a git work tree's top, not a copy made inside one
# (make check-sanitizers builds a distdir in _san/, under the work tree)
top=$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)
[ -n "$top" ] && [ "$top" -ef "$top_srcdir" ] ||
	skip "$top_srcdir is not the top of a git work tree (a release tarball or a copy: its files were checked in the tree it came from)"

cd "$top_srcdir" || fail "cd $top_srcdir"
n=0 bad=
while IFS= read -r -d '' f; do
	[ -f "$f" ] && [ ! -L "$f" ] || continue
	case "$f" in
	*.c|*.h|*.sh|*.py|*.am|*.ac|*.in|*.sym|*.supp|*.rules|debian/rules|.ci/run|completion/*) ;;
	*) [ "$(head -c 2 "$f")" = '#!' ] || continue ;;
	esac
	n=$((n + 1))
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: ISC' || bad="$bad $f"
done < <(git ls-files -z)
[ "$n" -gt 50 ] || fail "only $n source files found: the selection is wrong"
[ -z "$bad" ] || fail "no 'SPDX-License-Identifier: ISC' in the first 3 lines of:$bad"
sb_log "$n tracked source files carry the SPDX line"
exit 0
