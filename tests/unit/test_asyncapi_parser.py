"""docs/asyncapi.yaml passes the AsyncAPI project's own parser (tools/asyncapi-validate.mjs).

The parser is a Node package that `make node-deps` installs (`make test` does it first). Without it
this test fails, naming the command, rather than skip: a check that silently does not run is none.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "asyncapi-validate.mjs"
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
PARSER = ROOT / "tools" / "node_modules" / "@asyncapi" / "parser" / "package.json"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node.js 20.17+ with npm, then run `make node-deps`")
    if not PARSER.is_file():
        pytest.fail("the AsyncAPI parser is not installed (tools/node_modules): run `make node-deps`")
    return subprocess.run(
        [node, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def test_the_checked_in_document_passes_the_asyncapi_parser() -> None:
    result = _validate(DOCUMENT)
    # Errors and warnings fail the script; information (e.g. that AsyncAPI 3.1 exists) is only shown.
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{DOCUMENT}: valid AsyncAPI 3.0.0" in result.stdout


@pytest.mark.parametrize(
    ("breakage", "diagnostic"),
    [
        (('$ref: "#/channels/inbound.deal.won"', '$ref: "#/channels/inbound.deal.lost"'), "error "),
        (
            ('$ref: "#/components/messages/deal.won"', '$ref: "#/components/messages/deal.postponed"'),
            "invalid-ref",
        ),
        (('    host: "{host}:{port}"\n', ""), "error "),
        (("      name: deal.won\n", "      name: deal.won\n      payloads: {}\n"), "error "),
    ],
    ids=["operation-on-wrong-channel", "missing-message", "server-without-host", "misspelt-field"],
)
def test_a_broken_document_fails_the_check(
    tmp_path: Path, breakage: tuple[str, str], diagnostic: str
) -> None:
    text = DOCUMENT.read_text(encoding="utf-8")
    old, new = breakage
    assert old in text
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = _validate(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert diagnostic in result.stdout
    assert f"{broken}: NOT valid" in result.stdout
