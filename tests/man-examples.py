# SPDX-License-Identifier: ISC
"""man-examples.py: extracts the programs (with a main) of libsockbroker(3)'s
EXAMPLES into DIR/example1.c, example2.c, ...; prints how many.

  man-examples.py PAGE DIR   PAGE: the built libsockbroker.3
"""
import re, sys
src = open(sys.argv[1]).read()
ex = src.split("\n.Sh EXAMPLES\n", 1)[1].split("\n.Sh ", 1)[0]
progs = re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", ex, re.S | re.M)
progs = [p for p in progs if "int\nmain(" in p]
if not progs:
    sys.exit("no program (with a main) in EXAMPLES")
def unescape(s):
    return re.sub(r"\\(e|&|-|\(aq|\(dq)",
                  lambda m: {"e": "\\", "&": "", "-": "-", "(aq": "'", "(dq": '"'}[m.group(1)], s)
for i, p in enumerate(progs):
    open("%s/example%d.c" % (sys.argv[2], i + 1), "w").write(unescape(p))
print(len(progs))
