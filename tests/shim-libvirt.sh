#!/bin/bash
# SPDX-License-Identifier: ISC
# The libvirt recipe of sockbroker-shim(8), as written there: a domain whose
# <emulator> is the wrapper script of the man page (the configured bindir),
# with <graphics type='vnc' socket='LONG'/> (a 170-byte path) and an
# emulated TPM, started by libvirtd 9 from Debian, which runs QEMU as
# libvirt-qemu with a cleared environment: the shim finds the system broker
# on /run/sockbroker by itself. Proven end to end: the RFB banner at the
# long path, query-tpm through libvirt, the entry owned by libvirt-qemu;
# after virsh destroy no socket answers there.
#
# libvirtd runs in the foreground in a private mount namespace: tmpfs over
# /run, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and the
# configured prefix (/usr/local, where the test puts the build's CLI, shim
# and rules as `make install` would), its own /etc/libvirt, and a
# libvirt-qemu user added to a private /etc/passwd. TCG. Needs root.
if [ -z "${SB_IN_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (libvirtd, mounts)" >&2; exit 77; }
	command -v libvirtd >/dev/null && command -v virsh >/dev/null ||
		{ echo "SKIP: libvirtd or virsh is not installed" >&2; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "SKIP: cannot make a mount namespace" >&2; exit 77; }
	SB_IN_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
# everything below runs in the private mount namespace only
[ "$(findmnt -n -o PROPAGATION / 2>/dev/null)" = private ] ||
	{ echo "FAIL: not in a private mount namespace" >&2; exit 99; }
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
need qemu-system-x86_64 socat swtpm swtpm_setup findmnt

# The recipe as the man page has it, with the configured paths.
MAN=$top_builddir/man/sockbroker-shim.8
[ -f "$MAN" ] || skip "$MAN is not built"
WRAPPER=$(sed -n 's/^# \(\/.*\/qemu-sockbroker\)$/\1/p' "$MAN" | head -1)
EXEC_LINE=$(grep -A1 "^# $WRAPPER\$" "$MAN" | sed -n 2p)
SHIM_PATH=$(sed -n 's/^\.Ev LD_PRELOAD Ns = Ns Pa \(.*libsockbroker-shim\.so\)$/\1/p' "$MAN" | head -1)
case $EXEC_LINE in
"exec "*"/sockbroker exec -- /usr/bin/qemu-system-x86_64 \"\$@\"") ;;
*) fail "the man page's libvirt wrapper is not what this test knows: '$EXEC_LINE'" ;;
esac
CLI_PATH=${EXEC_LINE#exec }
CLI_PATH=${CLI_PATH%% *}
PREFIX=${CLI_PATH%/bin/sockbroker}
case "$PREFIX:$WRAPPER:$SHIM_PATH" in
/usr/local:/usr/local/*:/usr/local/*) ;;
*) skip "configured for prefix $PREFIX: the test can only lay out /usr/local" ;;
esac
DATADIR=$PREFIX/share

# what `make install` puts under the prefix, from the build tree
mount -t tmpfs -o mode=0755 tmpfs /usr/local || skip "cannot mount a tmpfs on /usr/local"
mkdir -p "$(dirname "$WRAPPER")" "$PREFIX/bin" "$(dirname "$SHIM_PATH")" \
	"$DATADIR/sockbroker/rewrite.d"
printf '#!/bin/sh\nexec %s "$@"\n' "$(cd "$top_builddir" && pwd)/cli/sockbroker" >"$CLI_PATH"
cp "$SB_SHIM" "$SHIM_PATH"
cp "$top_srcdir"/shims/rewrite.d/*.rules "$DATADIR/sockbroker/rewrite.d/"
printf '#!/bin/sh\n%s\n' "$EXEC_LINE" >"$WRAPPER"
chmod 755 "$CLI_PATH" "$WRAPPER"

# the system broker
mount -t tmpfs -o mode=0755 tmpfs /run || skip "cannot mount a tmpfs on /run"
ROOT=/run/sockbroker
export SOCKBROKER_ROOT=$ROOT
sb_start

# libvirtd's world
for d in /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
	[ -d "$d" ] || skip "$d does not exist (libvirt-daemon makes it)"
	mount -t tmpfs tmpfs "$d" || skip "cannot mount a tmpfs on $d"
done
mkdir -p "$T/etc"
cp /etc/passwd "$T/passwd"
cp /etc/group "$T/group"
grep -q '^libvirt-qemu:' "$T/passwd" ||
	echo "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" >>"$T/passwd"
grep -q '^libvirt-qemu:' "$T/group" || echo "libvirt-qemu:x:64055:" >>"$T/group"
mount --bind "$T/passwd" /etc/passwd
mount --bind "$T/group" /etc/group
QUID=$(id -u libvirt-qemu)
# A /dev/kvm that root may open and libvirt-qemu may not makes libvirt
# think KVM comes and goes, and probe the emulator again at every lookup
# (virQEMUCapsIsValid: "KVM was enabled when probing"): the domain is TCG,
# so this namespace gets a /dev without kvm.
if [ -e /dev/kvm ]; then
	mkdir "$T/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$T/dev" || skip "cannot mount a tmpfs for /dev"
	for n in null zero full random urandom tty; do
		[ -e "/dev/$n" ] || continue
		touch "$T/dev/$n"
		mount --bind "/dev/$n" "$T/dev/$n"
	done
	mkdir "$T/dev/pts" "$T/dev/shm"
	mount --bind /dev/pts "$T/dev/pts"
	mount -t tmpfs -o mode=1777 tmpfs "$T/dev/shm"
	ln -s pts/ptmx "$T/dev/ptmx"
	mount --rbind "$T/dev" /dev || skip "cannot replace /dev"
	umount -R -l "$T/dev"	# /dev keeps it; $T can go at exit
fi
cat >"$T/etc/qemu.conf" <<-CONF
	user = "libvirt-qemu"
	group = "libvirt-qemu"
	security_driver = "none"
	namespaces = [ ]
	cgroup_controllers = [ ]
	stdio_handler = "file"
	swtpm_user = "root"
	swtpm_group = "root"
CONF
cat >"$T/etc/libvirtd.conf" <<-CONF
	auth_unix_rw = "none"
	auth_unix_ro = "none"
CONF
[ -d /etc/libvirt ] || skip "/etc/libvirt does not exist"
mount --bind "$T/etc" /etc/libvirt
libvirtd -f /etc/libvirt/libvirtd.conf >"$T/libvirtd.log" 2>&1 &
lv=$!
sb_bg $lv
sb_wait_for test -S /run/libvirt/libvirt-sock || fail "libvirtd did not start: $(tail -5 "$T/libvirtd.log")"
virsh_() { timeout 60 virsh -c qemu:///system "$@"; }

V=$(sb_long_path "vm/vnc.sock" 170)
mkdir -p "$(dirname "$V")"
chown "$QUID" "$(dirname "$V")"
cat >"$T/dom.xml" <<-XML
	<domain type='qemu'>
	  <name>sb-long</name>
	  <memory unit='MiB'>64</memory>
	  <os><type arch='x86_64' machine='pc'>hvm</type></os>
	  <devices>
	    <emulator>$WRAPPER</emulator>
	    <graphics type='vnc' socket='$V'/>
	    <tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm>
	  </devices>
	</domain>
XML
virsh_ define "$T/dom.xml" >/dev/null 2>"$T/define.err" ||
	fail "virsh define: $(cat "$T/define.err") $(tail -3 "$T/libvirtd.log")"
virsh_ start sb-long >"$T/start.out" 2>&1 ||
	fail "virsh start: $(cat "$T/start.out") $(tail -5 /var/log/libvirt/qemu/sb-long.log 2>/dev/null)"
sb_wait_for test -S "$V" || fail "no VNC socket at $V: $(tail -5 /var/log/libvirt/qemu/sb-long.log)"
out=$(shimmed socat -t1 UNIX-CONNECT:"$V" - </dev/null 2>/dev/null | head -c 12)
assert_eq "$out" "RFB 003.008" "the RFB banner at the long path"
out=$(virsh_ qemu-monitor-command sb-long '{"execute":"query-tpm"}') || fail "query-tpm"
assert_contains "$out" '"emulator"' "query-tpm through libvirt"
out=$("$SOCKBROKER" list 2>&1)
assert_contains "$out" "$(readlink "$V")" "the system broker has the VNC entry"
assert_contains "$out" " $QUID " "owned by libvirt-qemu"
virsh_ destroy sb-long >/dev/null || fail "virsh destroy"
sb_wait_for eval "! test -e '$V'" || fail "$V still answers after destroy"
virsh_ undefine --tpm sb-long >/dev/null 2>&1 || virsh_ undefine sb-long >/dev/null 2>&1
exit 0
