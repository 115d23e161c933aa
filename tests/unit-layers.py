#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""unit-layers.py: sockbrokerd's files call only the files below them.

brokerd.h's header lists the daemon's files from the top layer down; a
file may call only files below it. This reads the object files with nm(1):
a file that defines a function (T) and a file that calls it (U) make a
call. A call up the list, or a file missing from the list, fails the test,
except the upward calls of UPWARD (none now); one of those that is gone
fails too (take it off UPWARD, so that it stays gone).

    unit-layers.py [OBJECT ...]	(default: $top_builddir/brokerd/*.o)
"""
import glob
import os
import re
import subprocess
import sys

# Upward calls sockbrokerd may still make: "caller callee".
UPWARD = []


def layers(header):
    """The file names of brokerd.h's list, top layer first."""
    out = []
    with open(header) as f:
        for line in f:
            m = re.match(r"^ \* (\w+)\.c\s", line)
            if m:
                out.append(m.group(1))
            if line.startswith(" */"):
                break
    return out


def graph(objs):
    defs, uses = {}, {}
    for o in objs:
        name = re.sub(r"^sockbrokerd-", "", os.path.basename(o))[:-len(".o")]
        out = subprocess.run(["nm", o], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] == "T":
                defs[p[2]] = name
            elif len(p) == 2 and p[0] == "U":
                uses.setdefault(name, set()).add(p[1])
    edges = {n: set() for n in set(defs.values()) | set(uses)}
    why = {}
    for f, syms in uses.items():
        for s in syms:
            g = defs.get(s)
            if g is not None and g != f:
                edges[f].add(g)
                why.setdefault((f, g), []).append(s)
    return edges, why


def cycles(edges):
    """Tarjan's strongly connected components of two or more nodes."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    objs = sys.argv[1:] or sorted(glob.glob(os.path.join(
        os.environ.get("top_builddir", "."), "brokerd", "*.o")))
    if not objs:
        print("no object files of sockbrokerd (build it first)")
        return 99
    order = layers(os.path.join(os.environ.get("top_srcdir", "."), "brokerd", "brokerd.h"))
    rank = {n: i for i, n in enumerate(order)}
    edges, why = graph(objs)
    bad = 0
    for f in sorted(edges):
        if f not in rank:
            bad = 1
            print("not ok: %s.c is not in brokerd.h's list of files" % f)
    up = []
    for (f, g), syms in sorted(why.items()):
        if f in rank and g in rank and rank[g] < rank[f]:
            up.append("%s %s" % (f, g))
            if "%s %s" % (f, g) not in UPWARD:
                bad = 1
                print("not ok: %s.c calls %s.c, a layer above it: %s" % (
                    f, g, ", ".join(sorted(syms))))
    for u in UPWARD:
        if u not in up:
            bad = 1
            print("not ok: %s.c no longer calls %s.c: take it off UPWARD" % tuple(u.split()))
    for u in up:
        f, g = u.split()
        print("# upward: %s.c calls %s.c: %s" % (f, g, ", ".join(sorted(why[(f, g)]))))
    print("%d files, %d upward calls, %d call cycles: %s" % (
        len(edges), len(up), len(cycles(edges)),
        "; ".join(" ".join(c) for c in cycles(edges)) or "none"))
    return bad


if __name__ == "__main__":
    sys.exit(main())
