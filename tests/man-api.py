# SPDX-License-Identifier: ISC
"""man-api.py: libsockbroker(3) names every function, type, struct member,
enum constant and macro of sockbroker.h (prints each missing name, exits 1).

  man-api.py HEADER PAGE    HEADER: sockbroker.h, PAGE: the built libsockbroker.3
"""
import re, sys
h = open(sys.argv[1]).read()
page = open(sys.argv[2]).read()
h = re.sub(r"/\*.*?\*/", " ", h, flags=re.S)          # comments
names = set(re.findall(r"SB_EXPORT[^;(]*?\b(sb_\w+)\s*\(", h))       # functions
names |= set(re.findall(r"^#define\s+(SB_\w+)", h, re.M)) - {"SB_EXPORT"}
names |= set(re.findall(r"\b(?:struct|enum)\s+(sb_\w+)\s*\{", h))    # tags
names |= set(re.findall(r"typedef[^;]*?\b(sb_\w+)\s*[;)]", h))       # typedefs
for body in re.findall(r"\b(?:struct|enum)\s+sb_\w+\s*\{(.*?)\}", h, re.S):
    for decl in body.split(";") if "," not in body or ";" in body else body.split(","):
        decl = decl.split("=")[0].strip()
        m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", decl)
        if m:
            names.add(m.group(1))
for body in re.findall(r"\benum\s+sb_\w+\s*\{(.*?)\}", h, re.S):     # constants
    names |= set(re.findall(r"\b(SB_\w+)\s*=", body))
missing = sorted(n for n in names if not re.search(r"(?<![\w])" + re.escape(n) + r"(?![\w])", page))
for n in missing:
    print("not in libsockbroker(3):", n)
print("# %d names of sockbroker.h checked" % len(names), file=sys.stderr)
sys.exit(1 if missing else 0)
