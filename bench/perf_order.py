"""The ordering check: per entity the newest published version is applied, none out of order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from bench.perf_workload import Event, newest_versions

LINK_TYPES = {"customer": ("customer",), "product": ("product",), "deal": ("deal_order", "deal_invoice")}


@dataclass
class OrderCheck:
    entities: int = 0
    version_mismatches: list[str] = field(default_factory=list)
    applied_out_of_order: list[str] = field(default_factory=list)
    stale_skips: int = 0

    @property
    def ok(self) -> bool:
        return not (self.version_mismatches or self.applied_out_of_order)


async def check_order(pool: asyncpg.Pool, events: Sequence[Event]) -> OrderCheck:
    """Per entity: the applied version is the newest published one, and no older version was
    applied after a newer one (outcome rows of one entity are written under its lock, so their ids
    are in application order)."""
    newest = newest_versions(events)
    by_id = {e.event_id: e for e in events}
    check = OrderCheck(entities=len(newest))
    links = await pool.fetch(
        "SELECT tenant_id, entity_type, entity_id, synced_version FROM sevsync.entity_link"
    )
    applied: dict[tuple[str, str, str], int] = {}
    kind_of = {link: kind for kind, types in LINK_TYPES.items() for link in types}
    for r in links:
        key = (r["tenant_id"], kind_of.get(r["entity_type"], r["entity_type"]), r["entity_id"])
        applied[key] = max(applied.get(key, 0), r["synced_version"] or 0)
    for key, version in newest.items():
        if applied.get(key) != version:
            check.version_mismatches.append(
                f"{'/'.join(key)}: published v{version}, applied {applied.get(key)}"
            )
    rows = await pool.fetch(
        "SELECT event_id::text AS event_id, status, reason FROM sevsync.sync_outcome "
        "WHERE status IN ('succeeded', 'skipped') ORDER BY id"
    )
    last: dict[tuple[str, str, str], int] = {}
    for r in rows:
        event = by_id.get(r["event_id"])
        if event is None:
            continue
        if r["reason"] == "stale":
            check.stale_skips += 1
            continue
        # Not applied either: a redelivery, or a version left to a newer one waiting behind it.
        if r["reason"] in ("duplicate", "superseded"):
            continue
        previous = last.get(event.entity, 0)
        if event.version <= previous:
            check.applied_out_of_order.append(
                f"{'/'.join(event.entity)}: v{event.version} applied after v{previous}"
            )
        last[event.entity] = max(previous, event.version)
    return check
