#!/bin/bash
# SPDX-License-Identifier: ISC
# Native semantics under the shim (broker mode, paths of 150+ bytes): a C
# program gives the same answers with the shim and a long path as without
# it and a short path: bad pointers (EFAULT, never SIGSEGV; also where a
# seccomp filter refuses process_vm_readv or kills its caller), a second bind
# of the same path (EADDRINUSE, the first listener still answers), binds
# the kernel refuses (nothing left at the path, no entry), a child that
# closes every fd and binds (its own fds stay its own), a vfork child (also
# one that makes the first call the shim sees), a
# fork while another thread waits for a stopped broker, a SIGTERM handler
# that unlinks while the main thread waits for a stopped broker, binds after
# closefrom (direct and broker mode).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/shim-lib.sh"
[ -x "$SHIM_PROG" ] || fail "no $SHIM_PROG"
shim_mode broker

SHORTD=$(mktemp -d /tmp/sb-native.XXXXXX)
trap 'rm -rf "$SHORTD"; shim_exit' EXIT
P=$(sb_long_path "native-p.sock" 160)
Q=$(sb_long_path "native-q.sock" 160)

# same output natively (short paths) and under the shim (long paths)
same() {
	local what=$1 native shimmed_out
	shift
	native=$("$SHIM_PROG" "$what" "$SHORTD/p" "$SHORTD/q" 2>&1 </dev/null) ||
		fail "$what: native run failed: $native"
	rm -f "$SHORTD"/*
	shimmed_out=$(shimmed_vg "$SHIM_PROG" "$what" "$P" "$Q" 2>&1 </dev/null) ||
		fail "$what: shimmed run failed: $shimmed_out"
	assert_eq "$shimmed_out" "$native" "$what: shimmed vs native"
	printf '%s\n' "$shimmed_out"
}

# bad pointers: the kernel's errno, before and after the table has entries
# (not under valgrind: it reports the bad pointers the program passes on purpose)
out=$(shimmed "$SHIM_PROG" efault "$P" 2>&1) || fail "efault: the shimmed program failed: $out"
native=$("$SHIM_PROG" efault "$SHORTD/p" 2>&1) || fail "efault: native run failed"
assert_eq "$out" "$native" "bad pointers: shimmed vs native"
assert_contains "$out" "bound unlinkat-null EFAULT" "unlinkat(AT_FDCWD, NULL, 0)"
assert_contains "$out" "bound bind-bad-16 EFAULT" "bind(fd, (void *)8, 16)"

# the same under a seccomp filter that refuses process_vm_readv, or kills
# the process that calls it (systemd's SystemCallFilter=@system-service
# leaves out @debug): the shim copies no other way than the kernel would
for action in errno kill; do
	out=$(shimmed "$SHIM_PROG" seccomp $action "$P" 2>&1) ||
		fail "seccomp $action: the shimmed program failed (exit $?): $out"
	[ "$out" = "no filter" ] && { sb_log "no seccomp filter here: skipped"; break; }
	native=$("$SHIM_PROG" seccomp $action "$SHORTD/p" 2>&1) || fail "seccomp $action: native run failed"
	assert_eq "$out" "$native" "seccomp $action: shimmed vs native"
	assert_contains "$out" "bound bind-bad-16 EFAULT" "seccomp $action: bind(fd, (void *)8, 16)"
done

out=$(same addrinuse)
assert_contains "$out" "second bind EADDRINUSE" "a second bind of the same path"
assert_contains "$out" "first listener hi" "the first listener still answers"
assert_contains "$out" "bind of a bound socket EINVAL" "a bind on a bound socket"
assert_contains "$out" "q after it ENOENT" "no link after a refused bind"
assert_contains "$out" "bind of q ok" "a refused bind leaves nothing behind"
"$SOCKBROKER" list >"$T/list" 2>&1 || fail "sockbroker list"
[ "$(wc -l <"$T/list")" -le 1 ] || fail "entries left: $(cat "$T/list")"

out=$(same forkclose)
assert_contains "$out" "child bind+listen ok" "a child that closed every fd binds"
assert_contains "$out" "child log ok" "the child's own file stays open"

out=$(same vfork)
assert_contains "$out" "parent bind+listen ok" "the parent binds after a vfork child did"
assert_contains "$out" "parent log ok" "the parent's own file stays open"
assert_contains "$out" "parent stderr ok" "the parent's stderr stays its own"
assert_contains "$out" "parent listener ok" "the parent's listener stays its own"

# a vfork child makes the first call the shim sees: the parent's shim still works
for mode in broker direct; do
	out=$(SOCKBROKER_MODE=$mode same vforkfirst)
	assert_contains "$out" "parent bind+listen ok" "$mode: the parent binds after a vfork child went first"
	assert_contains "$out" "parent call hi" "$mode: the parent connects after a vfork child went first"
done

# after closefrom the shim works again, in both modes (in direct mode its
# directory fd may be a file of the program's now)
for mode in direct broker; do
	out=$(SOCKBROKER_MODE=$mode shimmed_vg "$SHIM_PROG" closefrom "$P" 2>&1) ||
		fail "closefrom ($mode): $out"
	assert_eq "$out" "after closefrom ok" "closefrom ($mode)"
done

# a stopped broker: fork in another thread does not wait; the bind has a deadline
coproc TF { exec "${SHIMMED[@]}" "$SHIM_PROG" threadfork "$P" "$Q" 2>>"$T/shim.log"; }
tf_pid=$TF_PID
sb_bg $tf_pid
read -r -t 60 line <&"${TF[0]}" || fail "threadfork: not ready"
assert_eq "$line" ready "threadfork ready"
kill -STOP "$SB_PID"
echo go >&"${TF[1]}"
read -r -t 60 line <&"${TF[0]}" || { kill -CONT "$SB_PID"; fail "fork waited for the broker"; }
assert_eq "$line" "forked while the thread waits" "fork while a round trip waits"
read -r -t 60 line <&"${TF[0]}" || { kill -CONT "$SB_PID"; fail "the bind did not give up"; }
kill -CONT "$SB_PID"
assert_eq "$line" "bind with a stopped broker ETIMEDOUT" "a bind has a deadline"
wait $tf_pid || fail "threadfork failed"
sb_wait_for eval "! test -L '$Q'" || fail "a link left at $Q after a timed-out bind"

# a SIGTERM handler unlinks its path while the main thread waits for the
# broker (in a bind: an unlink waits for no answer)
coproc SU { exec "${SHIMMED[@]}" "$SHIM_PROG" sigunlink "$P" "$Q" 2>>"$T/shim.log"; }
su_pid=$SU_PID
sb_bg $su_pid
read -r -t 60 line <&"${SU[0]}" || fail "sigunlink: not ready"
kill -STOP "$SB_PID"
echo go >&"${SU[1]}"
# wait until the main thread is blocked on the broker, then signal it
read -r -t 60 line <&"${SU[0]}" || { kill -CONT "$SB_PID"; fail "sigunlink: not waiting"; }
assert_eq "$line" waiting "sigunlink blocked in the round trip"
kill -TERM $su_pid
# the signal waits (blocked) until the round trip ends: let the broker go on
sb_wait_for eval "grep -q '^ShdPnd:.*[1-9a-f]' /proc/$su_pid/status || ! kill -0 $su_pid" ||
	{ kill -CONT "$SB_PID"; fail "the handler ran inside the shim (deadlock)"; }
kill -CONT "$SB_PID"
# the handler runs as soon as the shim's round trip is over (before unlink returns)
read -r -t 60 line <&"${SU[0]}" || fail "sigunlink: the handler did not finish"
assert_eq "$line" "handler unlinked" "the handler's unlink"
wait $su_pid || fail "sigunlink: exit status $?"
sb_wait_for eval "! test -L '$P' && ! test -L '$Q'" || fail "links left after sigunlink"
exit 0
