"""Modules of pure logic import no I/O: they can be read, tested and reused without a network stack.

Each module is imported in a fresh interpreter, so what another test imported cannot hide a leak.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE_MODULES = [
    "sevsync.outcome_words",
    "sevsync.sevdesk.errors",
    "sevsync.sevdesk.objects",
    "sevsync.sevdesk.paging",
    "sevsync.sevdesk.token",
    "sevsync.sync.contact_mapping",
    "sevsync.sync.customer_numbers",
    "sevsync.sync.dates",
    "sevsync.sync.deal_mapping",
    "sevsync.sync.invoice_dates",
    "sevsync.sync.ownership",
    "sevsync.sync.part_mapping",
    "sevsync.sync.result",
    "sevsync.sync.tax",
    "sevsync.sync.totals",
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
