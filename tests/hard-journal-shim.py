# SPDX-License-Identifier: ISC
"""hard-journal-shim.py DIR: run under the shim, on a broker that cannot
write its journal: a bind() of an over-long path under DIR fails, and
leaves the program's socket unbound, as a failed native bind does: the
same socket then binds at a short path.
"""
import ctypes, os, socket, struct, sys

d = sys.argv[1]
long_dir = os.path.join(d, "l" * 100)
os.makedirs(long_dir, exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
# Python refuses an over-long path itself: bind(2) through libc, as C does
libc = ctypes.CDLL(None, use_errno=True)
path = os.path.join(long_dir, "s" * 40).encode()
addr = struct.pack("H", socket.AF_UNIX) + path + b"\0"
if libc.bind(s.fileno(), ctypes.c_char_p(addr), len(addr)) == 0:
    print("FAIL: the bind succeeded on a broker that cannot write its journal")
    sys.exit(1)
print("# the bind failed: %s" % os.strerror(ctypes.get_errno()))
name = s.getsockname()
if name:
    print("FAIL: the failed bind left the socket bound at %r" % name)
    sys.exit(1)
s.bind(os.path.join(d, "short"))
s.listen()
print("ok")
