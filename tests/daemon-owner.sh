#!/bin/bash
# SPDX-License-Identifier: ISC
# Owner lifetime: the entry lives as long as the process that made it.
# Killed with SIGKILL, its entry, socket file and directory disappear.
. "$top_srcdir/tests/lib.sh"
need python3

sb_start
export PYTHONPATH="$top_srcdir/tests"
LONG=$(sb_long_path owner.sock 160)

# A process that binds three owner entries (a name, a path with proof, a
# prepared name it binds itself), says so on a fifo, then waits forever.
mkfifo "$T/fifo"
python3 - "$LONG" >"$T/fifo" <<'PYEOF' &
import os, socket, sys, time
from sbproto import *
longp = sys.argv[1]
root = os.environ["SOCKBROKER_ROOT"]
c = Client(root)
t, i, f, fds = c.call("bind", key="own1", flags=LISTEN, lifetime=OWNER)
assert t == "ok", f
keep = [socket.socket(fileno=fds[0])]
os.symlink(short_path(root, longp), longp)
pf = os.open(longp, os.O_PATH | os.O_NOFOLLOW)
t, i, f, fds = c.call("bind", fds=[pf], key=longp, flags=LISTEN, proof=1, has_fd=1)
assert t == "ok", f        # a path defaults to owner lifetime
keep.append(socket.socket(fileno=fds[0]))
t, i, f, fds = c.call("bind", key="own3", flags=PREPARE, lifetime=OWNER)
assert t == "ok" and not fds, f
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(f["short_path"])
s.listen()
assert c.call("bind", key="own3", flags=BOUND)[0] == "ok"
c.close()
print(os.getpid(), flush=True)
while True:
    time.sleep(3600)
PYEOF
OWNER=$!
sb_bg $OWNER
read -r -t 20 pid <"$T/fifo" || fail "the owner process did not bind"
assert_eq "$pid" "$OWNER" "owner pid"

python3 - "$LONG" "$OWNER" <<'PYEOF' || fail "owner entries while the owner lives"
import errno, os, sys
from sbproto import *
longp, pid = sys.argv[1], int(sys.argv[2])
c = Client()
ents = {e["key"]: e for e in c.list()}
for k in ("own1", longp, "own3"):
    e = ents[k]
    assert e["lifetime"] == OWNER and e["pid"] == pid and e["holders"] == 0, e
    assert os.path.exists(e["short_path"]), e
t, i, f, _ = c.call("get", key="own1")
assert t == "error" and f["errno"] == errno.ENXIO, f
t, i, f, fds = c.call("bind", key="own1")
assert t == "error" and f["errno"] == errno.EADDRINUSE and str(pid) in f["message"], f
print("ok - in use by pid %d: %s" % (pid, f["message"]))
PYEOF

dir1=$(dirname "$(python3 -c 'import sys; from sbproto import *; print(short_path(sys.argv[1], "own1"))' "$ROOT")")
dir2=$(dirname "$(readlink "$LONG")")
dir3=$(dirname "$(python3 -c 'import sys; from sbproto import *; print(short_path(sys.argv[1], "own3"))' "$ROOT")")
[ -d "$dir1" ] && [ -d "$dir2" ] && [ -d "$dir3" ] || fail "entry directories missing"

kill -KILL "$OWNER"
wait "$OWNER" 2>/dev/null
gone() { [ ! -e "$dir1" ] && [ ! -e "$dir2" ] && [ ! -e "$dir3" ]; }
sb_wait_for gone || fail "the entries of a killed owner stayed: $(ls -R "$ROOT")"
python3 - <<'PYEOF' || fail "entries after the owner died"
from sbproto import *
c = Client()
keys = [e["key"] for e in c.list()]
assert not keys, keys
t, i, f, fds = c.call("bind", key="own1", lifetime=OWNER)
assert t == "ok", f
print("ok - the owner's entries are gone and own1 can be bound again")
PYEOF
# the binder above exited too: own1 goes as well
sb_wait_for test ! -e "$dir1" || fail "own1 of an exited process stayed"
sb_stop
