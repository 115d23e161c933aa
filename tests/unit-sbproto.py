#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""unit-sbproto.py: tests/sbproto.py speaks the protocol of sb-proto.h.

sbproto.py is a hand copy of the protocol numbers (the raw client of the
integration tests). proto-dump prints the numbers as the C code has them
(codec.c's own tables); every type, field, field kind and constant must be
the same in both, and neither side may have one the other lacks.

    unit-sbproto.py [PROTO-DUMP]	(default: $top_builddir/tests/proto-dump)
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sbproto  # noqa: E402

CONSTS = {
    "SB_PROTO_MAGIC": sbproto.MAGIC, "SB_PROTO_VERSION": sbproto.VERSION,
    "SB_HDR_SIZE": sbproto.HDR.size, "SB_MSG_MAX": sbproto.MSG_MAX,
    "SB_BIND_LISTEN": sbproto.LISTEN, "SB_BIND_PREPARE": sbproto.PREPARE,
    "SB_BIND_BOUND": sbproto.BOUND, "SB_BIND_ADOPT": sbproto.ADOPT,
    "SB_BIND_SAY_LIFETIME": sbproto.SAY_LIFETIME,
    "SB_STATUS_DETAILS": sbproto.STATUS_DETAILS,
    "SB_LT_HOLD": sbproto.HOLD, "SB_LT_OWNER": sbproto.OWNER,
    "SB_KIND_SOCKET": sbproto.KIND_SOCKET, "SB_KIND_FD": sbproto.KIND_FD,
    "SB_FK_U32": sbproto.U32, "SB_FK_U64": sbproto.U64, "SB_FK_STR": sbproto.STR,
}


def main():
    dump = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("top_builddir", "."), "tests", "proto-dump")
    out = subprocess.run([dump], check=True, capture_output=True, text=True).stdout
    types, fields, consts = {}, {}, {}
    for line in out.splitlines():
        what, name, *values = line.split()
        if what == "type":
            types[name] = int(values[0])
        elif what == "field":
            fields[name[len("SB_F_"):].lower()] = (int(values[0]), int(values[1]))
        else:
            consts[name] = int(values[0])
    bad = []
    for name in sorted(set(types) | set(sbproto.TYPES)):
        if types.get(name) != sbproto.TYPES.get(name):
            bad.append("type %s: sb-proto.h %s, sbproto.py %s" % (
                name, types.get(name), sbproto.TYPES.get(name)))
    for name in sorted(set(fields) | set(sbproto.FIELDS)):
        c, py = fields.get(name), sbproto.FIELDS.get(name)
        if c != py:
            bad.append("field %s: sb-proto.h (number, kind) %s, sbproto.py %s" % (name, c, py))
    for name in sorted(set(consts) | set(CONSTS)):
        if consts.get(name) != CONSTS.get(name):
            bad.append("%s: sb-proto.h %s, sbproto.py %s" % (name, consts.get(name),
                                                              CONSTS.get(name)))
    for b in bad:
        print("not ok:", b)
    print("%d types, %d fields, %d constants compared" % (len(types), len(fields), len(consts)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
