# SPDX-License-Identifier: ISC
"""daemon-s6-entries.py: the entries of daemon-s6.sh after the restart are
those before it, each with one holder and the same short path.

  daemon-s6-entries.py BEFORE AFTER   both: sockbroker list --json output
"""
import json, sys
before = {e["key"]: e for e in json.load(open(sys.argv[1]))}
after = {e["key"]: e for e in json.load(open(sys.argv[2]))}
assert set(before) == set(after), (set(before) ^ set(after))
for k, e in after.items():
    assert e["holders"] == 1, e
    assert e["short_path"] == before[k]["short_path"], (e, before[k])
