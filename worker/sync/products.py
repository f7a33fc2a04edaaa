"""product.created / product.updated -> sevDesk Part."""

from __future__ import annotations

from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Product

from ..outcome_words import NO_CHANGE, SEVDESK_REJECTED
from ..sevdesk.errors import NotFoundError
from ..sevdesk.objects import JsonObject
from ..store.links import LinkWrite
from . import part_mapping as pm
from .agreed_state import product_state, state_hash, unit_read_back
from .contact_mapping import fingerprint
from .context import SyncContext
from .recovery import create_or_recover, unique_match
from .result import HandlerResult, SyncFailure, linked_result

ENTITY = "product"
PART = "Part"


async def sync_product(ctx: SyncContext, event: Envelope[Product]) -> HandlerResult:
    product = event.data
    api = ctx.api
    body = pm.part_body(product, ctx.tenant.settings.units)
    payload_hash = fingerprint(body)
    number = pm.part_number(product)
    link = await ctx.linked_object(ENTITY, product.id)
    agreed = _agreed(product, number, ctx.tenant.settings.units)

    if link is not None and link.payload_hash == payload_hash:
        return _result(product.id, link.object_id, number, event.version, payload_hash, NO_CHANGE)

    if link is not None:
        part_id = link.object_id
        try:
            await api.update_part(part_id, body)
        except NotFoundError:
            raise await ctx.gone(link) from None
        return _result(product.id, part_id, number, event.version, payload_hash, agreed_hash=agreed)

    existing = await _find_existing(ctx, product, number)
    if existing is not None:
        part_id = str(existing["id"])
        await ctx.ensure_unclaimed(ENTITY, product.id, PART, part_id)
        await api.update_part(part_id, body)
        return _result(product.id, part_id, number, event.version, payload_hash, agreed_hash=agreed)

    pending = await ctx.begin_create(ENTITY, product.id, PART, number)
    created, _ = await create_or_recover(
        ctx,
        pending,
        lambda: api.create_part(pm.part_create_body(product, ctx.tenant.settings.units)),
        lambda: api.find_parts_by_number(number),
        f"part number {number}",
    )
    return _result(product.id, str(created["id"]), number, event.version, payload_hash, agreed_hash=agreed)


async def _find_existing(ctx: SyncContext, product: Product, number: str) -> JsonObject | None:
    """A Part to link instead of creating: the one the CRM names, or one with the same part number."""
    if product.sevdesk_id is not None:
        try:
            return await ctx.api.get_part(product.sevdesk_id)
        except NotFoundError:
            raise SyncFailure(SEVDESK_REJECTED, f"sevDesk has no part {product.sevdesk_id}", PART) from None
    # Also covers a create whose answer was lost in an earlier attempt (its intent names this number).
    return unique_match(await ctx.api.find_parts_by_number(number), f"part number {number}")


def _result(
    product_id: str,
    part_id: str,
    number: str,
    version: int,
    payload_hash: str,
    skip_reason: str | None = None,
    agreed_hash: str | None = None,
) -> HandlerResult:
    link = LinkWrite(
        entity_type=ENTITY,
        entity_id=product_id,
        sevdesk_object=PART,
        sevdesk_id=part_id,
        sevdesk_number=number,
        synced_version=version,
        payload_hash=payload_hash,
        agreed_hash=agreed_hash,
    )
    return linked_result(link, skip_reason=skip_reason)


def _agreed(product: Product, number: str, units: dict[str, str]) -> str:
    """The state sevsync's write leaves, as the reconciler reads it back (so it is never told back)."""
    unit = unit_read_back(pm.unity_id(product.unit, units), units)
    return state_hash(product_state(product, number, unit))
