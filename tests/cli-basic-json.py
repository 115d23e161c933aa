# SPDX-License-Identifier: ISC
"""cli-basic-json.py: the fields of `sockbroker list --json` (run by cli-basic.sh).

  cli-basic-json.py LIST.JSON LONGKEY SHORTPATH   the saved output, a path key
                                                  and the short path it must have
"""
import json, os, sys
entries = json.load(open(sys.argv[1]))
by = {e["key"]: e for e in entries}
need = {"key", "kind", "type", "lifetime", "uid", "gid", "pid", "mode", "ctime", "age",
        "holders", "listening", "short_path"}
for e in entries:
    assert need <= set(e), e
t = by["tpm-vm1"]
assert t["kind"] == "socket" and t["type"] == "stream" and t["lifetime"] == "hold", t
assert t["listening"] is True and t["uid"] == os.getuid() and t["mode"] == "0600", t
assert by["myfd"]["kind"] == "fd" and by["myfd"]["short_path"] is None, by["myfd"]
assert by["dg.1"]["type"] == "dgram", by["dg.1"]
assert by[sys.argv[2]]["short_path"] == sys.argv[3], by[sys.argv[2]]
