#!/bin/bash
# SPDX-License-Identifier: ISC
# bash completion: installed where bash-completion looks for it (its loader
# finds it under a datadir in XDG_DATA_DIRS, as /usr/share or /usr/local/share
# are), and it completes commands, options, their values, and the names of
# the broker's entries.
. "$top_srcdir/tests/lib.sh"
need bash make
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || skip "bash-completion is not installed"

# install it as "make install" does, under a scratch DESTDIR
env -u MAKEFLAGS -u MFLAGS make -s -C "$top_builddir" DESTDIR="$T/dest" \
	install-dist_bashcompletionDATA >/dev/null || fail "make install of the completion"
datadir=$SB_DATADIR
dir=$T/dest$datadir/bash-completion/completions
[ -f "$dir/sockbroker" ] || fail "not installed in $datadir/bash-completion/completions: $(find "$T/dest" -type f)"

sb_start
PATH=$top_builddir/cli:$PATH "$SOCKBROKER" bind tpm-vm1 >/dev/null || fail "bind tpm-vm1"
"$SOCKBROKER" bind tpm-vm2 >/dev/null || fail "bind tpm-vm2"

# compl WORDS...: what bash offers for the last word, one per line
cat >"$T/complete.bash" <<EOF
. "$bc"
__load_completion sockbroker || { echo "bash-completion did not load it" >&2; exit 1; }
complete -p sockbroker >/dev/null || exit 1
COMP_WORDS=("\$@")
COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
COMP_LINE="\${COMP_WORDS[*]}"
COMP_POINT=\${#COMP_LINE}
_sockbroker sockbroker "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null  # compopt: "not currently executing completion"
printf '%s\n' "\${COMPREPLY[@]}" | sort -u
EOF
compl() {
	HOME=$T XDG_DATA_HOME=$T/none XDG_DATA_DIRS="$T/dest$datadir" \
		PATH="$top_builddir/cli:$PATH" SOCKBROKER_ROOT="$ROOT" \
		bash --norc --noprofile "$T/complete.bash" "$@"
}
words() { printf '%s\n' "$@"; }

assert_eq "$(compl sockbroker st)" "status" "a command"
assert_eq "$(compl sockbroker re)" "$(words reexec release resolve)" "commands"
assert_eq "$(compl sockbroker bind k --ty)" "--type" "an option of bind"
assert_eq "$(compl sockbroker bind k --type s)" "$(words seqpacket stream)" "--type values"
assert_eq "$(compl sockbroker bind k --lifetime '')" "$(words hold owner)" "--lifetime values"
assert_eq "$(compl sockbroker list --j)" "--json" "an option of list"
assert_eq "$(compl sockbroker exec --mode d)" "direct" "exec --mode values"
assert_eq "$(compl sockbroker help wa)" "wait" "help COMMAND"
assert_eq "$(compl sockbroker get tpm)" "$(words tpm-vm1 tpm-vm2)" "the broker's names"
assert_eq "$(compl sockbroker --root "$ROOT" release tpm-vm)" "$(words tpm-vm1 tpm-vm2)" \
	"names under --root"
mkdir "$T/dir" && : >"$T/dir/vm.sock"
assert_eq "$(compl sockbroker bind "$T/dir/v")" "$T/dir/vm.sock" "a path key is a file"
assert_eq "$(compl sockbroker exec -- ech)" "echo" "exec -- a command"
assert_eq "$(compl sockbroker explain --mode "")" "$(words broker direct)" "explain --mode values"
assert_eq "$(compl sockbroker explain -- ech)" "echo" "explain -- a command"
exit 0
