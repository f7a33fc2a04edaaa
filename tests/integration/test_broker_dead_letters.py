"""A message that fails every delivery before an outcome can be recorded still ends as a dead letter."""

from __future__ import annotations

from typing import Any

import asyncpg
from prometheus_client import REGISTRY

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sync.context import SyncContext
from sevsync.sync.handlers import Handler
from sevsync.sync.result import HandlerResult
from sevsync_events.envelope import Envelope

from ..samples import product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_dead_letters, wait_for_outcomes


async def _crash(ctx: SyncContext, event: Envelope[Any]) -> HandlerResult:
    raise RuntimeError("a bug that strikes every time")


async def test_poison_message_is_dead_lettered_by_the_broker_and_recorded(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"requeue_delay": 0.01})
    await add_tenant(db, settings, sandbox)
    poison = envelope("product.created", product())
    healthy = envelope("product.updated", product("prod-ok", sku="SKU-OK"))
    unknown_settled = _settled("unknown", "ack")
    async with running_worker(settings) as worker:
        assert worker.processor is not None
        # Only product.created is broken; everything else keeps flowing.
        worker.processor._handlers = {
            **worker.processor._handlers,
            "product.created": Handler(entity_type="product", run=_crash, link_types=("product",)),
        }
        await publish(settings, poison, healthy)
        [ok] = await wait_for_outcomes(db, healthy)
        [dead] = await wait_for_dead_letters(db, 1, timeout=30)
        [outcome] = await wait_for_outcomes(db, poison)

    assert ok["status"] == "succeeded"
    assert (dead["reason"], str(dead["event_id"]), dead["tenant_id"]) == (
        "delivery_limit",
        poison["event_id"],
        "acme",
    )
    assert dead["attempts"] >= 10
    assert b'"prod-7"' in bytes(dead["body"])
    assert (outcome["status"], outcome["reason"]) == ("dead", "delivery_limit")
    # Settling the broker's dead letter is not a delivery of the work queue.
    assert _settled("unknown", "ack") == unknown_settled


def _settled(event_type: str, decision: str) -> float:
    labels = {"event_type": event_type, "decision": decision}
    return REGISTRY.get_sample_value("sevsync_deliveries_settled_total", labels) or 0.0
