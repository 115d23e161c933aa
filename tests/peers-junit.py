#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""peers-junit.py BASELINE.xml SHIMMED.xml: compare two JUnit reports of
CPython's regrtest (python3 -m test --junit-xml) test case by test case.
Prints every case whose outcome (pass, skipped, failure, error) differs,
or that is in one report only, and a summary line; exits 1 if any does."""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = "%s.%s" % (case.get("classname", ""), case.get("name", ""))
        status = "pass"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = child.tag
                break
        out[name] = status
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 100
    base, shim = outcomes(sys.argv[1]), outcomes(sys.argv[2])
    diff = 0
    for name in sorted(set(base) | set(shim)):
        a, b = base.get(name, "absent"), shim.get(name, "absent")
        if a != b:
            print("%s: %s without the shim, %s with it" % (name, a, b))
            diff += 1
    counts = {}
    for s in shim.values():
        counts[s] = counts.get(s, 0) + 1
    print("%d test cases, %s; %d differ" % (len(shim), ", ".join(
        "%d %s" % (n, s) for s, n in sorted(counts.items())), diff))
    return 1 if diff or not shim else 0


if __name__ == "__main__":
    sys.exit(main())
