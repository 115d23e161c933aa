# SPDX-License-Identifier: ISC
"""daemon-idle-alive.py: an entry keeps a broker started with an idle exit
alive, and so does a connected client.
"""
import time
from sbproto import *
c = Client()
assert c.call("bind", key="e1")[0] == "ok"
c.close()
c = Client()
t0 = time.time()
while time.time() - t0 < 4:        # an entry keeps the broker alive
    assert c.call("status")[0] == "ok"
    time.sleep(0.1)
assert c.call("release", key="e1")[0] == "ok"
t0 = time.time()
while time.time() - t0 < 3.5:      # so does a client
    assert c.call("status")[0] == "ok"
    time.sleep(0.1)
c.close()
