"""`sevsync_outcomes_total` agrees with what the worker wrote, for every status and reason.

Each outcome row in sync_outcome counts once under its event type, status and reason; a dead letter
that no handler could take (no outcome row) counts once under `malformed` or `unknown`. A real
worker runs events to every kind of end (applied, duplicate, stale, not connected, disabled,
refused and replayed, retried until dead, parked, a poison message the broker gives up on, bad
messages), then the metric's growth is compared with the tables.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.disposition import MALFORMED_TYPE, UNKNOWN_TYPE
from sevsync.replay import replay
from sevsync.sandbox.server import SandboxServer
from sevsync.store.dead_letters import DeadLetterFilter
from sevsync.sync.context import SyncContext
from sevsync.sync.handlers import Handler
from sevsync.sync.result import HandlerResult
from sevsync_events.envelope import Envelope

from ..samples import person, product
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_dead_letters,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)
from .tcp_proxy import TcpProxy

Labels = tuple[str, str, str]  # event_type, status, reason

pytestmark = pytest.mark.timeout(120)


def outcome_metric() -> Counter[Labels]:
    counts: Counter[Labels] = Counter()
    for family in REGISTRY.collect():
        if family.name != "sevsync_outcomes":
            continue
        for sample in family.samples:
            if sample.name == "sevsync_outcomes_total":
                labels = sample.labels
                counts[(labels["event_type"], labels["status"], labels["reason"])] = int(sample.value)
    return counts


def grown(before: Counter[Labels]) -> Counter[Labels]:
    after = outcome_metric()
    after.subtract(before)
    return +after  # without the labels that did not grow


async def written(db: asyncpg.Pool) -> Counter[Labels]:
    """What the metric must have counted: the outcome rows, and the dead letters without one."""
    rows = await db.fetch(
        "SELECT event_type, status, coalesce(reason, '') AS reason, count(*) AS n"
        " FROM sevsync.sync_outcome GROUP BY 1, 2, 3"
    )
    counts = Counter({(r["event_type"], r["status"], r["reason"]): int(r["n"]) for r in rows})
    unhandled = await db.fetch(
        "SELECT d.reason, coalesce(d.event_type, '') AS event_type, count(*) AS n FROM sevsync.dead_letter d"
        " WHERE NOT EXISTS (SELECT 1 FROM sevsync.sync_outcome o WHERE o.event_id = d.event_id)"
        " GROUP BY 1, 2"
    )
    for row in unhandled:
        # As the worker labels them: unreadable is `malformed`, readable but not handled `unknown`.
        label = UNKNOWN_TYPE if row["reason"] == "unknown_event_type" or row["event_type"] else MALFORMED_TYPE
        counts[(label, "dead", row["reason"])] += int(row["n"])
    return counts


async def _crash(ctx: SyncContext, event: Envelope[Any]) -> HandlerResult:
    raise RuntimeError("a bug that strikes every time")


async def test_the_metric_counts_every_outcome_row_and_every_unhandled_dead_letter_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"requeue_delay": 0.01})
    await add_tenant(db, settings, sandbox)
    await add_tenant(db, settings, sandbox, "off", enabled=False)
    down = await add_tenant(db, settings, sandbox, "down")
    locked = await add_tenant(db, settings, sandbox, "locked")
    # sevDesk fails every call of one tenant (until the ladder runs out) and refuses another's token.
    sandbox.sandbox.faults.add(kind="status", status=503, retry_after=0, times=None, token=down)
    sandbox.sandbox.faults.add(kind="status", status=401, times=None, token=locked)
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=151, message="Part number already assigned",
        method="POST", path="^/Part$", times=1,
    )  # fmt: skip

    applied = envelope("customer.created", person("c-1"))
    newer = envelope("customer.updated", person("c-2"), version=2)
    older = envelope("customer.updated", person("c-2", email="old@example.org"), version=1)
    refused = envelope("product.created", product())
    poison = envelope("product.updated", product("prod-poison", sku="SKU-P"))
    finals = [
        envelope("customer.created", person("c-3"), tenant="ghost"),
        envelope("customer.created", person("c-4"), tenant="off"),
        envelope("customer.created", person("c-5"), tenant="down"),
        envelope("customer.created", person("c-6"), tenant="locked"),
    ]
    unknown_type = {**envelope("customer.created", person("c-7")), "event_type": "planet.created"}

    before = outcome_metric()
    async with running_worker(settings) as worker:
        assert worker.processor is not None
        worker.processor._handlers = {
            **worker.processor._handlers,
            "product.updated": Handler(entity_type="product", run=_crash, link_types=("product",)),
        }
        await publish(settings, applied, newer, refused, poison, *finals)
        await publish(settings, b"{not json")
        await publish(settings, unknown_type, routing_key="customer.updated")
        await wait_for_outcomes(db, applied, newer, refused, poison, *finals, timeout=60)
        # Redelivered after it was applied: a `duplicate` row. Older than what was applied: `stale`.
        await publish(settings, applied, older)
        await wait_for_outcomes(db, older)
        await wait_until(
            lambda: db.fetchval(
                "SELECT count(*) = 2 FROM sevsync.sync_outcome WHERE event_id = $1",
                uuid.UUID(applied["event_id"]),
            ),
            message="the duplicate's outcome row",
        )
        # The refused product is replayed once sevDesk takes it.
        assert settings.amqp_url is not None
        await replay(
            db,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            DeadLetterFilter(event_ids=(uuid.UUID(refused["event_id"]),)),
        )
        await wait_for_first_outcome(db, refused, "succeeded")
        # The broker's dead letter of a message nothing can read.
        await worker.processor.record_delivery_limit(b"\xff not even text", 11)
        await wait_for_dead_letters(db, 6)

    expected = await written(db)
    statuses = {status for _, status, _ in expected}
    assert statuses == {"succeeded", "skipped", "retrying", "parked", "failed", "dead"}, expected
    assert {reason for _, status, reason in expected if status == "skipped"} >= {
        "duplicate", "stale", "not_connected", "disabled",
    }  # fmt: skip
    assert {reason for _, status, reason in expected if status == "dead"} >= {
        "retries_exhausted", "delivery_limit", "malformed", "unknown_event_type",
    }  # fmt: skip
    assert grown(before) == expected


async def test_a_bad_message_that_waited_for_postgres_counts_once(
    db: asyncpg.Pool, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    real_url = settings.database_url.get_secret_value()
    async with TcpProxy.for_url(real_url) as proxy:
        worker_settings = settings.model_copy(update={"database_url": SecretStr(proxy.url(real_url))})
        async with running_worker(worker_settings) as worker:
            assert worker._consumer is not None
            before = outcome_metric()
            await proxy.cut()
            await publish(settings, b"{not json")
            # Its dead letter could not be written: the worker holds it until Postgres answers.
            await wait_until(
                lambda: any("holding the delivery" in r.getMessage() for r in caplog.records),
                message="the delivery held while Postgres is away",
            )
            proxy.restore()
            await wait_for_dead_letters(db, 1)
            await wait_until(lambda: worker._consumer is not None and worker._consumer.in_flight == 0)
    assert grown(before) == await written(db) == Counter({(MALFORMED_TYPE, "dead", "malformed"): 1})
