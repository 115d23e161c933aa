# SPDX-License-Identifier: ISC
"""daemon-access-cap.py: run as uid 65534 against a broker with
--max-clients-per-uid 3: the fourth client is refused with EUSERS and a
message naming the limit, and there is room again once one has gone.
"""
import errno, os
from sbproto import *
cs = [Client() for _ in range(3)]
for c in cs:
    assert c.call("status")[0] == "ok"
extra = Client()
t, i, f, _ = extra.recv()
assert t == "error" and f["errno"] == errno.EUSERS, (t, f)
assert "uid 65534 has 3 clients: the limit is 3 (--max-clients-per-uid)" in f["message"], f
assert f["limit"] == 3
assert extra.is_closed()
cs[0].close()
# one went away: there is room again, once the broker has seen it go
import time
deadline = time.monotonic() + 10
while True:
    again = Client()
    try:
        t = again.call("status")[0]
    except OSError:
        t = "reset"
    except ValueError:
        t = "refused"       # the broker has not seen it go yet: ERROR with id 0
    if t == "ok":
        break
    again.close()
    assert time.monotonic() < deadline, "no room after a client left: %s" % t
    time.sleep(0.01)
print("ok - client cap per uid")
