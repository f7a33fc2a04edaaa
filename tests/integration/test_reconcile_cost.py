"""What a reconciliation of an unchanged account costs: the number docs/operations.md ("Changes in
sevDesk") states, counted in the sandbox's request log."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, crm_invoice, deal, product
from .harness import envelope, publish, running_worker, wait_for_outcomes
from .reconciling import T0, person_at, reconcile
from .test_payments import tenant_token

_README = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
_STATED = re.search(r"an unchanged account costs \*\*(\d+) requests\*\* plus the Part pages", _README)
assert _STATED is not None, "docs/operations.md states no request count for an unchanged reconciliation"
README_CALLS = int(_STATED.group(1))


async def test_an_unchanged_account_costs_what_the_readme_states(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.clock.set(T0)
    await tenant_token(db, settings, sandbox)
    events = [
        envelope("customer.created", company()),
        envelope("product.created", product()),
        envelope("deal.opened", deal("deal-43", number="D-2026-0043")),
        envelope("deal.won", deal()),
        envelope("invoice.issued", crm_invoice()),
    ]
    async with running_worker(settings):
        for event in events:
            await publish(settings, event)
            [outcome] = await wait_for_outcomes(db, event)
            assert outcome["status"] == "succeeded", outcome["error"]
    first = await reconcile(db, settings, ["contacts", "parts", "documents"])
    person_at(sandbox, 600)
    sandbox.sandbox.calls.clear()

    quiet = await reconcile(db, settings, ["contacts", "parts", "documents"])

    assert sum(c.told for c in first.kinds.values()) == 0
    assert sum(c.told + c.broken for c in quiet.kinds.values()) == 0
    listed = sorted(call.path for call in sandbox.sandbox.calls)
    assert listed == ["/Contact", "/Invoice", "/Order", "/Part", "/Voucher"]
    part_pages = 1  # one part: one page
    assert len(listed) == README_CALLS + part_pages
