# SPDX-License-Identifier: ISC
"""daemon-log-flood.py: 500 binds refused with EDQUOT in a row (the log
flood that daemon-log.sh checks is rate-limited).

  daemon-log-flood.py ROOT
"""
import sys
from sbproto import Client
c = Client(sys.argv[1])
for i in range(500):
    t, _, f, fds = c.call("bind", key="flood-%d" % i)
    assert t == "error" and f["errno"] == 122, (t, f)   # EDQUOT
