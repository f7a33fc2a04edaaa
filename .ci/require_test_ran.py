#!/usr/bin/env python3
"""Fail unless a pytest JUnit XML report shows that the named test modules ran and passed.

`.ci/run` calls it after `make test` for the browser test: pytest passes a run in which that test was
skipped, deselected (`-m`, `-k`, PYTEST_ADDOPTS) or never collected, but CI must not. Every test case
of each module must be in the report, at least one, and none skipped, failed or in error.

usage: require_test_ran.py REPORT MODULE [MODULE ...]   (MODULE as pytest names it: tests.browser.x)
Standard library only: it runs with the system python3.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.etree import ElementTree

NOT_PASSED = ("skipped", "failure", "error")


def check(report: Path, modules: list[str]) -> tuple[int, list[str]]:
    """How many of the modules' test cases passed, and what is wrong (empty when all is well)."""
    try:
        # The report comes from this CI run's own pytest: nothing hostile to parse.
        root = ElementTree.parse(report).getroot()  # noqa: S314
    except (OSError, ElementTree.ParseError) as exc:
        return 0, [f"cannot read the test report {report}: {exc}"]
    passed = 0
    found: list[str] = []
    for module in modules:
        # pytest names a case by its module, or its module and class: `tests.browser.x.TestY`.
        cases = [
            case for case in root.iter("testcase") if f"{case.get('classname')}.".startswith(f"{module}.")
        ]
        if not cases:
            found.append(f"{module}: no test of it ran (skipped at collection, deselected or missing)")
        for case in cases:
            name = f"{case.get('classname')}::{case.get('name')}"
            bad = [child for child in case if child.tag in NOT_PASSED]
            if bad:
                message = " ".join((bad[0].get("message") or "").split())[:300]
                found.append(f"{name}: {bad[0].tag} ({message})")
            else:
                passed += 1
    return passed, found


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    report, modules = Path(argv[0]), argv[1:]
    passed, found = check(report, modules)
    for problem in found:
        print(f"ERROR: required test did not pass: {problem}", file=sys.stderr)
    if not found:
        print(f"{passed} required test(s) ran and passed: {', '.join(modules)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
