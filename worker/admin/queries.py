"""What the admin API and the ops console read: tenant health, failures, one entity's history.

Read-only queries on the dashboard views and tables; both interfaces show the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from ..outcome_words import STATUSES
from ..store.db import Connection
from ..store.dead_letters import UNREPLAYABLE_REASONS
from ..sync.handlers import HANDLERS
from ..tenants.settings import TenantSettings

# CRM entity -> the entity_link types that represent it in sevDesk.
LINK_TYPES: dict[str, tuple[str, ...]] = {}
for _handler in HANDLERS.values():
    LINK_TYPES[_handler.entity_type] = tuple(
        dict.fromkeys((*LINK_TYPES.get(_handler.entity_type, ()), *_handler.link_types))
    )
ENTITY_TYPES = tuple(LINK_TYPES)
# A pool, or one connection: a page reads all its counts in one snapshot (console.py).
Reader: TypeAlias = "Connection | asyncpg.Pool"


@dataclass(frozen=True)
class TenantHealth:
    tenant_id: str
    provider: str
    integration_status: str
    enabled: bool
    counts_24h: dict[str, int]
    last_success_at: datetime | None
    last_failure_at: datetime | None
    open_dead_letters: int
    # Events skipped while the tenant did not sync, waiting to be sent (`sevsync skipped`).
    skipped_waiting: int
    # Links whose sevDesk object was found deleted, waiting for `sevsync link relink|clear`.
    broken_links: int
    # Entities whose newest outcome is failed or dead, however old (what `recent_failures` lists).
    open_failures: int


@dataclass(frozen=True)
class Outcome:
    id: int
    event_id: UUID
    tenant_id: str
    event_type: str
    entity_type: str
    entity_id: str
    status: str
    reason: str | None
    attempt: int
    sevdesk_object: str | None
    sevdesk_id: str | None
    api_calls: int
    duration_ms: int | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class EntityLink:
    link_type: str
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    synced_at: datetime
    cancelled_at: datetime | None


async def tenant_health(pool: Reader, tenant_id: str | None = None) -> list[TenantHealth]:
    rows = await pool.fetch(
        "SELECT * FROM sevsync.tenant_health WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY tenant_id",
        tenant_id,
    )
    return [
        TenantHealth(
            tenant_id=row["tenant_id"],
            provider=row["provider"],
            integration_status=row["integration_status"],
            enabled=row["enabled"],
            counts_24h={status: int(row[f"{status}_24h"]) for status in STATUSES},
            last_success_at=row["last_success_at"],
            last_failure_at=row["last_failure_at"],
            open_dead_letters=int(row["open_dead_letters"]),
            skipped_waiting=int(row["skipped_waiting"]),
            broken_links=int(row["broken_links"]),
            open_failures=int(row["open_failures"]),
        )
        for row in rows
    ]


_OUTCOME_COLUMNS = (
    "id, event_id, tenant_id, event_type, entity_type, entity_id, status, reason, attempt, "
    "sevdesk_object, sevdesk_id, api_calls, duration_ms, error, created_at"
)


def _outcome(row: asyncpg.Record) -> Outcome:
    return Outcome(**dict(row))


# Failing now: the entity's newest outcome (entity_status, one row per entity) is failed or dead.
# Any age: an entity that failed last week and never succeeded since is still failing.
_FAILING = "status IN ('failed', 'dead') AND ($1::text IS NULL OR tenant_id = $1)"


async def recent_failures(pool: Reader, *, tenant_id: str | None = None, limit: int = 50) -> list[Outcome]:
    """Entities failing now, the most recently failed first, with sevDesk's error text."""
    rows = await pool.fetch(
        f"SELECT {_OUTCOME_COLUMNS} FROM sevsync.sync_outcome WHERE id IN ("  # noqa: S608 - constant columns
        f" SELECT outcome_id FROM sevsync.entity_status WHERE {_FAILING}"
        " ORDER BY updated_at DESC LIMIT $2) ORDER BY created_at DESC, id DESC",
        tenant_id,
        limit,
    )
    return [_outcome(row) for row in rows]


async def count_failing(pool: Reader) -> int:
    """How many entities of any tenant `recent_failures` would list without its limit: the overview's.

    A tenant's own count is tenant_health.open_failures (its page shows that column). This total
    differs from the sum of that column over tenants: it also counts the entities of tenants with
    no tenant_integration row (removed since, or never connected), which the view cannot list. Its
    condition, `_FAILING`, is the view's (`status IN ('failed', 'dead')` over entity_state, which
    entity_status shows).
    """
    sql = f"SELECT count(*) FROM sevsync.entity_status WHERE {_FAILING}"  # noqa: S608 - constant
    return int(await pool.fetchval(sql, None))


@dataclass(frozen=True)
class DeadLetterTotals:
    """Open (not replayed) dead letters of any age, as the dead letters page counts them."""

    open: int
    # Of those, the malformed ones: no replay can fix them.
    unreplayable: int
    # Of those, the ones of no tenant row (the message named none, or an unknown one): no tenant's
    # count on the overview includes them.
    without_tenant: int


async def dead_letter_totals(pool: Reader, tenant_id: str | None = None) -> DeadLetterTotals:
    """The overview's and a tenant page's summary of open dead letters, in one read.

    Not a replay's selection (that is `replay.replayable_part`, with the dead letters page's
    filters): a health summary of every open letter, beside how many no tenant row owns. The
    malformed ones are counted by the same reason set, `UNREPLAYABLE_REASONS`.
    """
    row = await pool.fetchrow(
        """
        SELECT count(*) AS open,
               count(*) FILTER (WHERE d.reason = ANY($2::text[])) AS unreplayable,
               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM sevsync.tenant_integration t
                                                   WHERE t.tenant_id = d.tenant_id)) AS without_tenant
          FROM sevsync.dead_letter d
         WHERE d.replayed_at IS NULL AND ($1::text IS NULL OR d.tenant_id = $1)
        """,
        tenant_id,
        list(UNREPLAYABLE_REASONS),
    )
    assert row is not None
    return DeadLetterTotals(int(row["open"]), int(row["unreplayable"]), int(row["without_tenant"]))


@dataclass(frozen=True)
class SettingLine:
    name: str
    value: str


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} → {item}" for key, item in sorted(value.items())) or "none"
    return "none" if value is None else str(value)


async def tenant_settings(pool: Reader, tenant_id: str) -> list[SettingLine]:
    """The tenant's settings as the worker reads them (defaults where never set), one line each.

    The token is not a setting: it lives in its own column, never read here.
    """
    stored = await pool.fetchval(
        "SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = $1", tenant_id
    )
    stored = stored if isinstance(stored, dict) else {}
    values = TenantSettings.model_validate(stored).model_dump(mode="json")
    return [SettingLine(name, _setting_text(value)) for name, value in values.items()]


async def entity_history(
    pool: asyncpg.Pool, tenant_id: str, entity_type: str, entity_id: str, *, limit: int = 100
) -> list[Outcome]:
    """Every recorded outcome of one CRM entity, newest first."""
    rows = await pool.fetch(
        f"SELECT {_OUTCOME_COLUMNS} FROM sevsync.sync_outcome"  # noqa: S608 - constant columns
        " WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 ORDER BY id DESC LIMIT $4",
        tenant_id,
        entity_type,
        entity_id,
        limit,
    )
    return [_outcome(row) for row in rows]


async def entity_links(
    pool: asyncpg.Pool, tenant_id: str, entity_type: str, entity_id: str
) -> list[EntityLink]:
    """The sevDesk objects that represent one CRM entity (a deal may have an order and an invoice)."""
    rows = await pool.fetch(
        "SELECT entity_type, sevdesk_object, sevdesk_id, sevdesk_number, synced_version, synced_at,"
        " cancelled_at FROM sevsync.entity_link"
        " WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = $3 ORDER BY entity_type",
        tenant_id,
        list(LINK_TYPES.get(entity_type, ())),
        entity_id,
    )
    return [
        EntityLink(
            link_type=row["entity_type"],
            sevdesk_object=row["sevdesk_object"],
            sevdesk_id=row["sevdesk_id"],
            sevdesk_number=row["sevdesk_number"],
            synced_version=row["synced_version"],
            synced_at=row["synced_at"],
            cancelled_at=row["cancelled_at"],
        )
        for row in rows
    ]


def as_json(value: Any) -> Any:
    """A dataclass row as JSON-ready values (timestamps ISO 8601, ids as strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: as_json(getattr(value, name)) for name in value.__dataclass_fields__}
    return value
