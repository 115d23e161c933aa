# SPDX-License-Identifier: ISC
"""hard-journal-owner.py: the owner client of hard-journal.sh (sbproto on
PYTHONPATH, SOCKBROKER_ROOT set; no arguments). Binds 40 owner entries with
150-byte names, prints "bound"; after a line on stdin (the broker was
restarted on the full file system) binds new ones until one is refused,
prints "acked N ERRNO", and keeps them alive until stdin closes.
"""
import sys
from sbproto import *
c = Client()
for i in range(40):
    t, _, f, _ = c.call("bind", key="e%03d-" % i + "x" * 146, lifetime=OWNER)
    assert t == "ok", (i, f)
print("bound", flush=True)
sys.stdin.readline()
c = Client()      # the broker was restarted
# on the full file system: the journal's last page may hold a few more
# records (acknowledged: they must come back); the first that does not fit
# is refused with ENOSPC
n = 0
while n < 40:
    t, _, f, _ = c.call("bind", key="new%d" % n, lifetime=OWNER)
    if t != "ok":
        break
    n += 1
print("acked", n, f.get("errno"), flush=True)
sys.stdin.read()
