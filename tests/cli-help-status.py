# SPDX-License-Identifier: ISC
"""cli-help-status.py: STATUS on the wire, plain and with STATUS_DETAILS, as
the broker cli-help.sh started (--max-entries 77, --client-timeout 40 s,
--max-clients-per-uid 33) answers it; an unknown flag is EINVAL.

  cli-help-status.py ROOT
"""
import sys
from sbproto import Client, STATUS_DETAILS
c = Client(sys.argv[1])
t, _, f, _ = c.call("status")
assert t == "ok" and set(f) == {"version_min", "version_max", "entries", "clients",
                                "uptime", "pid"}, (t, f)
t, _, f, _ = c.call("status", flags=STATUS_DETAILS)
assert t == "ok" and f["root"] == sys.argv[1] and f["max_entries"] == 77, (t, f)
assert f["client_timeout_ms"] == 40000 and f["max_clients_per_uid"] == 33, f
t, _, f, _ = c.call("status", flags=2)
assert t == "error" and f["errno"] == 22, (t, f)
