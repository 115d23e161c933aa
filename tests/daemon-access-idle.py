# SPDX-License-Identifier: ISC
"""daemon-access-idle.py: a client that stays idle past the broker's
--client-timeout is dropped.
"""
from sbproto import *
c = Client(timeout=10)
assert c.call("status")[0] == "ok"
assert c.is_closed(), "an idle client was not dropped"
print("ok - idle client dropped")
