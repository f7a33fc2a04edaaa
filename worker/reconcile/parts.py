"""Parts: sevDesk's Part list has no updateAfter, so every run pages through all parts.

Every linked part on the pages is mapped and compared with its agreed state: that costs no call (the
part is on the page) and, unlike comparing `update` stamps of whole seconds, also finds a second
change within the second examined before. The stamp examined is kept all the same. A linked part the
paging lacks is read on its own, and a 404 breaks its link. So every run is a sweep, at the cost of
the Part pages (1000 parts asked per page; the run pages on while sevDesk answers fewer).
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import ValidationError

from sevsync_events.errors import format_validation_error
from sevsync_events.outbound import ChangedProduct
from sevsync_events.registry import PART_CHANGED

from ..imports.mapping import id_of, product_from_part
from ..sevdesk.errors import NotFoundError
from ..sevdesk.objects import JsonObject
from ..store.reconcile import Cursor, LinkedObject, linked_objects
from ..sync.agreed_state import product_state, state_hash
from .kinds import BATCH, KindRun

log = logging.getLogger(__name__)

ENTITY = "product"
PART = "Part"


async def reconcile_parts(run: KindRun, cursor: Cursor) -> datetime | None:
    """Tell the changes of linked parts and break the links of deleted ones. No cursor (None): every
    run lists every part."""
    listed, batch = set[str](), list[JsonObject]()
    async for part in run.api.every_part():
        part_id = id_of(part)
        if part_id is None:
            continue
        listed.add(part_id)
        batch.append(part)
        if len(batch) >= BATCH:
            await _examine(run, batch)
            batch = []
    await _examine(run, batch)
    await _find_deleted(run, listed)
    run.teller.counts.swept = True
    return None


async def _examine(run: KindRun, parts: list[JsonObject]) -> None:
    if not parts:
        return
    by_id = {str(p["id"]): p for p in parts}
    links = await linked_objects(run.conn, run.tenant.tenant_id, [ENTITY], PART, list(by_id))
    for link in links:
        await _compare(run, link, by_id[link.sevdesk_id])
    run.examined(len(links))
    await run.teller.flush()


async def _compare(run: KindRun, link: LinkedObject, part: JsonObject) -> None:
    stamp = part.get("update")
    seen = stamp if isinstance(stamp, str) else None
    try:
        imported = product_from_part(part, run.tenant.settings.units)
        changed = ChangedProduct.model_validate({**imported.model_dump(), "id": link.entity_id})
    except ValidationError as exc:
        if seen is None or seen != link.seen_update:  # warned once per change, as for contacts
            reason = format_validation_error(exc)
            log.warning("sevDesk part %s does not fit the CRM's shape: %s", link.sevdesk_id, reason)
        run.teller.counts.invalid += 1
        await run.teller.seen(link, seen)
        return
    new_hash = state_hash(product_state(changed, changed.sku, changed.unit))
    await run.teller.change(link, PART_CHANGED, changed, new_hash, seen)


async def _find_deleted(run: KindRun, listed: set[str]) -> None:
    """Linked parts the paging lacked: deleted, unless a read finds them (created meanwhile)."""
    for link in await linked_objects(run.conn, run.tenant.tenant_id, [ENTITY], PART):
        if link.sevdesk_id in listed:
            continue
        try:
            await run.api.get_part(link.sevdesk_id)
        except NotFoundError:
            await run.teller.broken(link)
    await run.teller.flush()
