"""Compare two JUnit XML results of the same test suite: the reference run and ours.

Usage: ``python compare_junit.py REFERENCE.xml OURS.xml``. Prints the outcome counts of each and
every test whose outcome differs; exits 1 if a test that passed on the reference does not pass on
ours (a leak-check item skipped because a test of its stage failed counts as passing: see
docs/vsengine/pytest.md).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter


def outcomes(path: str) -> dict[str, str]:
    result = {}
    for case in ET.parse(path).iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        for outcome in ("failure", "error", "skipped"):
            if case.find(outcome) is not None:
                result[name] = outcome
                break
        else:
            result[name] = "passed"
    return result


def main() -> int:
    reference, ours = outcomes(sys.argv[1]), outcomes(sys.argv[2])
    print("reference:", dict(Counter(reference.values())))
    print("ours:     ", dict(Counter(ours.values())))
    regressions = 0
    for name in sorted(set(reference) | set(ours)):
        before, after = reference.get(name, "missing"), ours.get(name, "missing")
        if before == after:
            continue
        allowed = after == "skipped" and "@check-clean-environment[" in name
        regressed = before == "passed" and not allowed
        regressions += regressed
        print(f"{'REGRESSION' if regressed else 'differs'}: {name}: {before} -> {after}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
