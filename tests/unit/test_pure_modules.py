"""Modules of pure logic import no I/O: they can be read, tested and reused without a network stack.

Each module is imported in a fresh interpreter, so what another test imported cannot hide a leak.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PURE_MODULES = [
    "sevsync.broker.headers",
    "sevsync.disposition",
    "sevsync.outcome_words",
    "sevsync.retry_schedule",
    "sevsync.sevdesk.errors",
    "sevsync.sevdesk.objects",
    "sevsync.sevdesk.paging",
    "sevsync.sevdesk.statuses",
    "sevsync.sevdesk.token",
    "sevsync.sync.agreed_state",
    "sevsync.sync.broken_links",
    "sevsync.sync.contact_mapping",
    "sevsync.sync.customer_numbers",
    "sevsync.sync.dates",
    "sevsync.sync.deal_mapping",
    "sevsync.sync.document_urls",
    "sevsync.sync.documents",
    "sevsync.sync.einvoice",
    "sevsync.sync.gate",
    "sevsync.sync.invoice_dates",
    "sevsync.sync.ownership",
    "sevsync.sync.part_mapping",
    "sevsync.sync.policy",
    "sevsync.sync.recording",
    "sevsync.sync.rejects",
    "sevsync.sync.result",
    "sevsync.sync.tax",
    "sevsync.sync.told_events",
    "sevsync.sync.totals",
    "sevsync.tenants.doctor_checks",
    "sevsync_events.examples",
]

# Third-party I/O packages, and the project's own modules that talk to sevDesk or Postgres.
IO_MODULES = [
    "aiohttp",
    "asyncpg",
    "aio_pika",
    "tenacity",
    "aiormq",
    "pamqp",
    "sevsync.sevdesk.client",
    "sevsync.store.db",
]

_PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(" ".join(name for name in sys.argv[2:] if name in sys.modules))
"""


@pytest.mark.parametrize("module", PURE_MODULES)
def test_a_pure_module_imports_no_io_package(module: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *IO_MODULES], capture_output=True, text=True, check=False
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [], f"{module} imports I/O: {probe.stdout.strip()}"


# The folder `worker/` is installed as the package `sevsync`.
WORKER = Path(__file__).resolve().parents[2] / "worker"


def _claims_purity(path: Path) -> bool:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first_paragraph = docstring.split("\n\n")[0]
    return re.search(r"\bpure\b", first_paragraph, re.IGNORECASE) is not None


def _module_name(path: Path) -> str:
    parts = path.relative_to(WORKER).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("sevsync", *parts))


def test_every_module_that_says_it_is_pure_is_checked_above() -> None:
    claiming = {
        _module_name(path)
        for path in WORKER.rglob("*.py")
        if "sandbox" not in path.relative_to(WORKER).parts and _claims_purity(path)
    }
    assert claiming, "no module claims to be pure: the search above is broken"
    assert sorted(claiming - set(PURE_MODULES)) == []
