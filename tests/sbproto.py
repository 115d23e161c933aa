#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""sbproto.py: a small raw client of the sockbroker wire protocol, for tests.

It follows libbroker/sb-proto.h: a 16-byte header (magic, version, type,
length, id) and TLV fields, one message per SOCK_SEQPACKET datagram, fds by
SCM_RIGHTS. It can also build broken messages on purpose.

As a module:
    c = Client(root); t, i, f, fds = c.call('bind', key='x', flags=LISTEN)
As a command (exit 0 on OK, 1 on ERROR, 2 on trouble):
    sbproto.py [--root DIR] OP [FIELD=VALUE ...] [--fd N]
prints "ok field=value ..." or "error errno=N (NAME) message=..."; LIST
prints one "entry ..." line per entry and then "end".
"""
import array
import errno as errno_mod
import os
import socket
import struct
import sys

MAGIC = 0x4B524253
VERSION = 1
HDR = struct.Struct("=IHHII")
MSG_MAX = 8192

TYPES = {
    "hello": 0x0001, "bind": 0x0101, "get": 0x0102, "put": 0x0103,
    "resolve": 0x0104, "wait": 0x0105, "release": 0x0106, "list": 0x0107,
    "status": 0x0108, "ok": 0x0201, "error": 0x0202, "entry": 0x0203,
    "end": 0x0204, "reexec": 0x0301,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

U32, U64, STR = 1, 2, 3
FIELDS = {
    "key": (1, STR), "socktype": (2, U32), "flags": (3, U32), "mode": (4, U32),
    "gid": (5, U32), "lifetime": (6, U32), "timeout_ms": (7, U32),
    "errno": (8, U32), "message": (9, STR), "short_path": (10, STR),
    "uid": (11, U32), "pid": (12, U32), "ctime": (13, U64), "kind": (14, U32),
    "holders": (15, U32), "version_min": (16, U32), "version_max": (17, U32),
    "entries": (18, U32), "clients": (19, U32), "uptime": (20, U64),
    "limit": (21, U64), "has_fd": (22, U32), "proof": (23, U32),
    "listening": (24, U32), "broker_version": (25, STR), "root": (26, STR),
    "max_clients": (27, U32), "max_clients_per_uid": (28, U32),
    "max_entries": (29, U32), "max_entries_per_uid": (30, U32),
    "client_timeout_ms": (31, U32),
}
FIELD_NAMES = {num: (name, kind) for name, (num, kind) in FIELDS.items()}

LISTEN, PREPARE, BOUND, ADOPT, SAY_LIFETIME = 0x1, 0x2, 0x4, 0x8, 0x10
STATUS_DETAILS = 0x1
HOLD, OWNER = 1, 2
KIND_SOCKET, KIND_FD = 1, 2


def tlv(num, value):
    return struct.pack("=HH", num, len(value)) + value


def encode_field(name, value):
    num, kind = FIELDS[name]
    if kind == U32:
        return tlv(num, struct.pack("=I", value))
    if kind == U64:
        return tlv(num, struct.pack("=Q", value))
    if isinstance(value, str):
        value = value.encode()
    return tlv(num, value + b"\0")


def encode(mtype, mid=0, version=VERSION, magic=MAGIC, raw=b"", length=None, **fields):
    """Encode a message; raw bytes are appended after the fields as they are."""
    if isinstance(mtype, str):
        mtype = TYPES[mtype]
    body = b"".join(encode_field(k, v) for k, v in fields.items()) + raw
    if length is None:
        length = HDR.size + len(body)
    return HDR.pack(magic, version, mtype, length, mid) + body


def decode(buf):
    """(type name, id, fields) of a message from the broker; raises ValueError."""
    if len(buf) < HDR.size:
        raise ValueError("short message")
    magic, version, mtype, length, mid = HDR.unpack_from(buf)
    if magic != MAGIC or length != len(buf) or version != VERSION:
        raise ValueError("bad header")
    fields, off = {}, HDR.size
    while off < len(buf):
        if len(buf) - off < 4:
            raise ValueError("truncated field")
        num, vlen = struct.unpack_from("=HH", buf, off)
        off += 4
        if len(buf) - off < vlen or num not in FIELD_NAMES:
            raise ValueError("bad field")
        name, kind = FIELD_NAMES[num]
        v = buf[off:off + vlen]
        off += vlen
        if kind == U32:
            fields[name] = struct.unpack("=I", v)[0]
        elif kind == U64:
            fields[name] = struct.unpack("=Q", v)[0]
        else:
            if not v.endswith(b"\0") or b"\0" in v[:-1]:
                raise ValueError("bad string")
            fields[name] = v[:-1].decode()
    return TYPE_NAMES.get(mtype, "0x%04x" % mtype), mid, fields


def default_root():
    r = os.environ.get("SOCKBROKER_ROOT")
    if r:
        return r
    if os.geteuid() == 0:
        return "/run/sockbroker"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/run/user/%d" % os.geteuid()),
                        "sockbroker")


class Client:
    def __init__(self, root=None, timeout=20.0):
        self.root = root or default_root()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(self.root, "control"))
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send_raw(self, data, fds=()):
        if fds:
            return socket.send_fds(self.sock, [data], list(fds))
        return self.sock.send(data)

    def send(self, mtype, fds=(), **fields):
        mid = self.next_id
        self.next_id += 1
        self.send_raw(encode(mtype, mid, **fields), fds)
        return mid

    def recv(self):
        """(type, id, fields, fds); type is None at end of stream."""
        data, fds, flags, _ = socket.recv_fds(self.sock, MSG_MAX, 4)
        if not data:
            for fd in fds:
                os.close(fd)
            return None, 0, {}, []
        t, i, f = decode(data)
        return t, i, f, fds

    def call(self, mtype, fds=(), **fields):
        mid = self.send(mtype, fds, **fields)
        t, i, f, rfds = self.recv()
        if t is not None and i != mid:
            raise ValueError("reply id %d for request %d" % (i, mid))
        return t, i, f, rfds

    def list(self):
        self.send("list")
        out = []
        while True:
            t, i, f, fds = self.recv()
            for fd in fds:
                os.close(fd)
            if t == "entry":
                out.append(f)
            elif t == "end":
                return out
            else:
                raise ValueError("list: %s %r" % (t, f))

    def is_closed(self):
        """True if the broker closed the connection (after any pending reply)."""
        try:
            while True:
                t, i, f, fds = self.recv()
                for fd in fds:
                    os.close(fd)
                if t is None:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def short_path(root, key):
    """The short path of key, computed here as libbroker/key.c does."""
    import hashlib
    d = hashlib.sha256(key.encode()).digest()
    b32 = "0123456789abcdefghijklmnopqrstuv"
    acc, bits, out, i = 0, 0, "", 1
    while len(out) < 16:
        if bits < 5:
            acc = (acc << 8) | d[i]
            i += 1
            bits += 8
        out += b32[(acc >> (bits - 5)) & 31]
        bits -= 5
    return "%s/%02x/%s/sock" % (root.rstrip("/"), d[0], out)


def fmt_fields(f):
    parts = []
    for k, v in f.items():
        if k == "errno":
            parts.append("errno=%d (%s)" % (v, errno_mod.errorcode.get(v, "?")))
        elif k == "mode":
            parts.append("mode=%04o" % v)
        else:
            parts.append("%s=%s" % (k, v))
    return " ".join(parts)


def parse_value(name, v):
    if name not in FIELDS:
        raise SystemExit("sbproto: unknown field %s" % name)
    if FIELDS[name][1] == STR:
        return v
    if name == "mode":
        return int(v, 8)
    return int(v, 0)


def main(argv):
    root, fd, args = None, None, []
    it = iter(argv)
    for a in it:
        if a == "--root":
            root = next(it)
        elif a == "--fd":
            fd = int(next(it))
        else:
            args.append(a)
    if not args or args[0] not in TYPES:
        print(__doc__, file=sys.stderr)
        return 2
    op, fields = args[0], {}
    for a in args[1:]:
        k, _, v = a.partition("=")
        fields[k] = parse_value(k, v)
    c = Client(root)
    if op == "list":
        for e in c.list():
            print("entry " + fmt_fields(e))
        print("end")
        return 0
    if fd is not None:
        fields.setdefault("has_fd", 1)
    t, i, f, fds = c.call(op, fds=[fd] if fd is not None else (), **fields)
    for x in fds:
        st = os.fstat(x)
        f["fd_mode"] = "%o" % st.st_mode
        os.close(x)
    if t is None:
        print("closed")
        return 2
    print(t + (" " + fmt_fields(f) if f else ""))
    return 0 if t == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
