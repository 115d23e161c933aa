# SPDX-License-Identifier: ISC
"""cli-help-align.py: `sockbroker list`'s columns line up with their headers
(numbers right-aligned), and the owner entry shows its pid.

  cli-help-align.py LISTFILE OWNERPID
"""
import sys
lines = open(sys.argv[1]).read().splitlines()
head, rows = lines[0], lines[1:]
assert len(rows) == 4, lines
# every column starts where its header starts
cols = ["KIND", "TYPE", "LIFETIME", "SHORT PATH"]
for c in cols:
    at = head.index(c)
    for r in rows:
        assert r[at - 1] == " " and r[at] != " ", (c, r)
# right-aligned numbers end where their header ends
for c in ["UID", "PID", "AGE"]:
    end = head.index(c) + len(c)
    for r in rows:
        assert r[end - 1] != " " and r[end] == " ", (c, r)
pid_end = head.index("PID") + 3
pids = {r.split()[0]: r[:pid_end].split()[-1] for r in rows}
assert pids["owned"] == sys.argv[2], pids
assert pids["s"] == "-", pids
