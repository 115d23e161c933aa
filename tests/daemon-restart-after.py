# SPDX-License-Identifier: ISC
"""daemon-restart-after.py: after the restart only live1 (tracked again, still
listening, owner PID) and prep1 remain.

  daemon-restart-after.py PID
"""
import sys
from sbproto import *
ents = {e["key"]: e for e in Client().list()}
assert sorted(ents) == ["live1", "prep1"], sorted(ents)
e = ents["live1"]
assert e["pid"] == int(sys.argv[1]) and e["lifetime"] == OWNER and e["listening"] == 1, e
print("ok - live1 and prep1 kept, the rest cleaned")
