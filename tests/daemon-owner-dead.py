# SPDX-License-Identifier: ISC
"""daemon-owner-dead.py: once the owner died, its entries are gone and own1
can be bound again.
"""
from sbproto import *
c = Client()
keys = [e["key"] for e in c.list()]
assert not keys, keys
t, i, f, fds = c.call("bind", key="own1", lifetime=OWNER)
assert t == "ok", f
print("ok - the owner's entries are gone and own1 can be bound again")
