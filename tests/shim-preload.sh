#!/bin/bash
# SPDX-License-Identifier: ISC
# The shim preloaded for every process (sockbroker-shim(8), "System-wide
# preload"): in a private mount namespace, /etc/ld.so.preload names the
# shim (an overlay on /etc, so the host's /etc is never touched), with a
# broker running. A shell session of everyday commands (git init, commit,
# log with Unix:-style text, grep, sed, ssh -V, python3, make, echo) gives
# byte-identical output to the same session without the preload, and
# swtpm and QEMU with paths of 150+ bytes work with nothing but
# ld.so.preload.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace)"
need unshare git python3 make sed grep
unshare -m true 2>/dev/null || skip "unshare -m is not allowed here"
shim_mode broker
SHIM_ABS=$(readlink -f "$SB_SHIM")

L=$(sb_long_path "preload.sock" 160)
mkdir -p "$T/up" "$T/work"

# in_ns PRELOAD CMD...: CMD in a private mount namespace whose /etc is an
# overlay of the host's; with PRELOAD=1 its ld.so.preload names the shim.
in_ns() {
	local preload=$1
	shift
	rm -rf "$T/up" "$T/work"
	mkdir -p "$T/up" "$T/work"
	unshare -m --propagation private /bin/sh -c '
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 99
		if [ "$3" = 1 ]; then echo "$4" >/etc/ld.so.preload; else rm -f /etc/ld.so.preload; fi
		shift 4
		exec "$@"' sh "$T/up" "$T/work" "$preload" "$SHIM_ABS" "$@"
}

in_ns 0 true 2>/dev/null || skip "no overlay mount on /etc in a mount namespace here"

# The session: everyday commands whose arguments hold words the rewriter
# must leave alone (Unix:, unix:, path=, socket,, long text, long paths
# that are no socket). Fixed dates: the commit hashes are the same.
cat >"$T/session.sh" <<'SESSION'
set -e
L=$1
W=$2
rm -rf "$W"; mkdir -p "$W"; cd "$W"
export GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=T
export GIT_COMMITTER_EMAIL=t@example.org GIT_AUTHOR_DATE='2026-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 HOME=$W
git init -q -b main repo
cd repo
printf 'unix:%s\npath=%s,socket,x\nUnix: text\n' "$L" "$L" >notes
git add notes
git commit -q -m "Unix: fix the handling of socket paths unix:$L" -m "path=$L socket,unix:$L"
git log --format='%H %s%n%b'
grep -n "unix:$L" notes
grep -c "Unix:" notes
sed -e "s|unix:|UNIX:|" -e "s|path=|PATH=|" notes
echo "unix:$L"
/bin/echo "Unix: $L" "unix:path=$L" "-chardev socket,id=c,path=$L"
printf '%s\n' "--unix" "$L" "-qmp" "unix:$L,server=on,wait=off"
python3 -c 'import sys; print(sys.argv[1:])' "unix:$L" "--socket" "$L" "path=$L"
printf 'all:\n\t@echo made "unix:$(P)"\n' >Makefile
make -s P="$L"
ssh -V 2>&1 | sed 's/,.*//' || true
git status --short
SESSION

in_ns 0 bash "$T/session.sh" "$L" "$T/s" >"$T/native.out" 2>&1 || fail "the session failed without the shim: $(tail -3 "$T/native.out")"
in_ns 1 bash "$T/session.sh" "$L" "$T/s" >"$T/shim.out" 2>&1 || fail "the session failed with the shim: $(tail -3 "$T/shim.out")"
# a check that the preload was in effect: a process in the namespace has the shim mapped
in_ns 1 grep -c libsockbroker-shim /proc/self/maps >"$T/maps" 2>&1 || true
[ "$(cat "$T/maps")" -ge 1 ] 2>/dev/null || fail "ld.so.preload did not load the shim: $(cat "$T/maps")"
if ! cmp -s "$T/native.out" "$T/shim.out"; then
	diff -u "$T/native.out" "$T/shim.out" >&2
	fail "the session's output differs with the shim in ld.so.preload"
fi

# swtpm with long paths, nothing but ld.so.preload: a TPM answers at the long path
if command -v swtpm >/dev/null && command -v swtpm_ioctl >/dev/null; then
	C=$(sb_long_path "preload-ctrl.sock" 160)
	ST=$(sb_long_path "preload-state" 150)
	mkdir -p "$ST"
	in_ns 1 sh -c 'swtpm socket --tpm2 --tpmstate dir="$1" --ctrl type=unixio,path="$2" \
		--flags not-need-init --daemon --pid file="$3" &&
		for i in $(seq 1 500); do swtpm_ioctl --unix "$2" -i 2>/dev/null && break; sleep 0.02; done &&
		swtpm_ioctl --unix "$2" --info 1 && swtpm_ioctl --unix "$2" -s' \
		sh "$ST" "$C" "$T/swtpm.pid" >"$T/swtpm.out" 2>&1 || fail "swtpm under ld.so.preload: $(tail -3 "$T/swtpm.out")"
	assert_contains "$(cat "$T/swtpm.out")" TPMSpecification "swtpm answers at a long path"
fi

# QEMU with a long QMP path: the greeting and a command through socat
if command -v qemu-system-x86_64 >/dev/null && command -v socat >/dev/null; then
	Q=$(sb_long_path "preload-qmp.sock" 160)
	in_ns 1 sh -c 'qemu-system-x86_64 -machine none -nodefaults -display none \
		-qmp unix:"$1",server=on,wait=off -daemonize -pidfile "$2" &&
		printf "%s\n" "{\"execute\":\"qmp_capabilities\"}" "{\"execute\":\"query-status\"}" \
		"{\"execute\":\"quit\"}" | socat -t5 - UNIX-CONNECT:"$1"' \
		sh "$Q" "$T/qemu.pid" >"$T/qemu.out" 2>&1 || fail "QEMU under ld.so.preload: $(tail -3 "$T/qemu.out")"
	assert_contains "$(cat "$T/qemu.out")" '"QMP"' "QEMU's QMP greeting at a long path"
	assert_contains "$(cat "$T/qemu.out")" '"status"' "query-status at a long path"
fi
exit 0
