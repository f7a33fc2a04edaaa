"""Writing a deal's offer (Order) or invoice to sevDesk: the ids it refers to, its checks, its draft.

The document's fields come from `deal_mapping` once the sevDesk ids it needs (contact, country,
user, parts) are gathered here. Orders and invoices differ in their header fields and object names,
which `offers` and `invoices` add through a `DraftSpec`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sevsync_events.payloads import Deal

from ..outcome_words import (
    CANCELLED,
    INVALID_AMOUNTS,
    NO_CHANGE,
    NOT_DRAFT,
    TAX_RULE_INVALID,
    TOTALS_MISMATCH,
    UNSUPPORTED_CURRENCY,
)
from ..sevdesk.errors import NotFoundError, TransientError
from ..sevdesk.objects import JsonObject, ref
from ..sevdesk.statuses import DRAFT
from ..store.links import Link, LinkWrite
from . import totals as tot
from .agreed_state import document_hash
from .contact_mapping import fingerprint
from .context import SyncContext
from .customers import ensure_customer
from .deal_mapping import DEFAULT_COUNTRY, DealDocument, amount_of, document_number
from .ownership import Identity
from .recovery import KeyTaken, create_or_recover, own_match, unique_match
from .result import HandlerResult, SyncFailure, linked_result
from .tax import SMALL_BUSINESS, TaxRuleInvalid, allows_small_business, tax_decision_for

SMALL_BUSINESS_RULE = SMALL_BUSINESS.tax_rule
# The entity_link types of a deal: its offer and its invoice.
OFFER_LINK = "deal_order"
INVOICE_LINK = "deal_invoice"
DEAL_LINK_TYPES = (OFFER_LINK, INVOICE_LINK)
# Markers a deal's document may be given in turn when others' documents hold the earlier ones.
MAX_MARKERS = 20


async def prepare(ctx: SyncContext, deal: Deal, kind: Literal["order", "invoice"]) -> DealDocument:
    """Resolve tax, positions and totals, and the sevDesk ids of the parties (creating the customer).

    Whether the account allows the small-business rule is checked later, before a write."""
    check_currency(deal.currency)
    customer = deal.customer
    country = customer.address.country if customer.address else None
    try:
        tax = tax_decision_for(
            ctx.tenant.settings,
            document_date=deal.date,
            tax_type=deal.tax_type,
            customer_country=country,
            customer_vat_id=customer.vat_id,
            line_rates=[line.tax_rate for line in deal.lines] + [fee.tax_rate for fee in deal.fees],
            kind=kind,
        )
    except TaxRuleInvalid as exc:
        raise SyncFailure(TAX_RULE_INVALID, f"deal {deal.number}: {exc}") from None
    try:
        positions = tuple(tot.deal_positions(deal, tax.position_rate))
    except tot.InvalidAmounts as exc:
        raise SyncFailure(INVALID_AMOUNTS, f"deal {deal.number}: {exc}") from None
    contact_id = await ensure_customer(ctx, customer)
    country_id = await ctx.lookups.country_id(ctx.api, country or DEFAULT_COUNTRY)
    user_id = ctx.tenant.settings.contact_person_id or await ctx.lookups.default_user_id(ctx.api)
    product_ids = {line.product_id for line in deal.lines if line.product_id is not None}
    products = await ctx.links_of("product", product_ids) if product_ids else {}
    part_ids = {}
    for index, line in enumerate(deal.lines):
        link = products.get(line.product_id) if line.product_id is not None else None
        if link is not None and link.sevdesk_id is not None:
            part_ids[index] = link.sevdesk_id
    return DealDocument(
        contact_id=contact_id,
        country_id=country_id,
        contact_person_id=user_id,
        tax=tax,
        positions=positions,
        totals=tot.compute_totals(positions),
        part_ids=part_ids,
    )


async def ensure_small_business_allowed(ctx: SyncContext) -> None:
    """sevDesk accepts a rule-11 draft and refuses it only when it is finalised, unless the account
    offers a revenue booking account for rule 11 at 0 %: check before writing one."""
    if any(allows_small_business(account) for account in await ctx.api.revenue_guidance()):
        return
    raise SyncFailure(
        TAX_RULE_INVALID,
        "the tenant is set up as a small business (§19 UStG), but its sevDesk account offers no revenue "
        "account for tax rule 11; check the account's taxation settings in sevDesk",
    )


def check_currency(currency: str) -> None:
    if currency != "EUR":
        raise SyncFailure(
            UNSUPPORTED_CURRENCY, f"currency {currency} is not supported; sevsync books EUR only"
        )


def check_totals(what: str, document: JsonObject, expected: tot.Totals) -> None:
    """Compare sevDesk's sums of a document with sevsync's own, to the cent."""
    theirs = {name: amount_of(document.get(name)) for name in ("sumNet", "sumTax", "sumGross")}
    ours = {"sumNet": expected.net, "sumTax": expected.tax, "sumGross": expected.gross}
    differing = [name for name in ours if theirs[name] != ours[name]]
    if differing:
        figures = "; ".join(f"{name} sevDesk {theirs[name]} vs sevsync {ours[name]}" for name in differing)
        raise SyncFailure(
            TOTALS_MISMATCH, f"{what}: totals differ: {figures}", str(document.get("objectName"))
        )


@dataclass(frozen=True)
class MadeUpKey:
    """A business key sevsync makes up for a document (the invoice's marker), unlike a CRM's number.

    Others' documents can carry it too (a copy, a cancellation): one found by it is sevsync's only
    when `identity` proves it, and a key others hold is given up for the next one (CONTRACT section 8).
    """

    # The header field that carries it.
    field: str
    identity: Identity


@dataclass(frozen=True)
class DraftSpec:
    """How one kind of deal document is found, read and saved in sevDesk."""

    link_type: str
    object_name: str
    position_name: Literal["OrderPos", "InvoicePos"]
    kind: Literal["order", "invoice"]
    # The business key the document is found by after a lost answer (CONTRACT section 8). For a
    # made-up key it is the first one; given up, it is followed by "<key> (2)", "<key> (3)", ...
    business_key: str
    what: str
    find: Callable[[str], Awaitable[list[JsonObject]]]
    get: Callable[[str], Awaitable[JsonObject]]
    positions: Callable[[str], Awaitable[list[JsonObject]]]
    save: Callable[[JsonObject], Awaitable[JsonObject]]
    # Keys every save body carries besides the document and its positions (saveInvoice wants all).
    save_extras: dict[str, Any] = field(default_factory=dict)
    # None when the business key is the CRM's (the order number is the deal number).
    made_up_key: MadeUpKey | None = None
    # The header of an update, given the draft as sevDesk has it (an invoice keeps its head text).
    # Applied after the fingerprint, which covers only what sevsync derives from the deal.
    for_draft: Callable[[JsonObject, JsonObject], JsonObject] | None = None
    # Checks the data before anything is written (the customer's contact included), raising
    # SyncFailure: an e-invoice's fields.
    check: Callable[[], Awaitable[None]] | None = None


async def sync_draft(
    ctx: SyncContext, deal: Deal, version: int, spec: DraftSpec, header_fields: JsonObject
) -> HandlerResult:
    """Create the deal's document once, or replace its positions while it is a draft in sevDesk."""
    links = await ctx.links(DEAL_LINK_TYPES, deal.id)
    link = links.get(spec.link_type)
    if any(lk.cancelled for lk in links.values()):
        return HandlerResult(status="skipped", reason=CANCELLED)
    linked = link is not None and link.sevdesk_id is not None
    if not linked and spec.check is not None:
        # Before prepare(), which may create the customer's contact: nothing is written unchecked.
        await spec.check()
    doc = await prepare(ctx, deal, spec.kind)
    header = {**doc.header(deal), **header_fields}
    positions = doc.position_bodies(spec.position_name, ctx.tenant.settings.units)
    payload_hash = fingerprint({"header": header, "positions": positions})
    if linked and link is not None and link.payload_hash == payload_hash:
        return linked_result(relink(link, version), skip_reason=NO_CHANGE)
    if doc.tax.tax_rule == SMALL_BUSINESS_RULE:
        # Checked only when something is about to be written: it costs a call.
        await ensure_small_business_allowed(ctx)

    existing, key = await _existing_document(ctx, deal, spec, link)
    if existing is not None and int(existing.get("status") or DRAFT) != DRAFT:
        # Finalised, sent or accepted in sevDesk: it leads now; keep the link, change nothing.
        kept = LinkWrite(
            spec.link_type,
            deal.id,
            spec.object_name,
            str(existing["id"]),
            document_number(existing),
            version,
            link.payload_hash if link else None,
        )
        return linked_result(kept, skip_reason=NOT_DRAFT)
    if linked and spec.check is not None:
        # Linked: checked only now that something will be written (not for no_change or not_draft).
        await spec.check()
    if existing is None:
        document_id = await _create_once(ctx, deal, spec, header, positions, key)
    else:
        document_id = await _replace_draft(ctx, deal, spec, existing, header, positions, adopted=not linked)

    read_back = await spec.get(document_id)
    check_totals(f"{spec.what} (deal {deal.number})", read_back, doc.totals)
    written = LinkWrite(
        spec.link_type,
        deal.id,
        spec.object_name,
        document_id,
        document_number(read_back),
        version,
        payload_hash,
        # The state this write left (a draft): the reconciler never tells it back.
        agreed_hash=document_hash(spec.object_name, read_back),
    )
    return linked_result(written)


async def _replace_draft(
    ctx: SyncContext,
    deal: Deal,
    spec: DraftSpec,
    draft: JsonObject,
    header: JsonObject,
    positions: list[JsonObject],
    *,
    adopted: bool,
) -> str:
    """Save the draft with this header and these positions in place of its own; its id."""
    document_id = str(draft["id"])
    old_positions = await spec.positions(document_id)
    if spec.made_up_key is not None:
        # The document keeps the marker it was created with.
        header = {**header, spec.made_up_key.field: draft.get(spec.made_up_key.field)}
        if adopted:
            # Adopted, not linked yet: whether or not this update lands, the draft stays ours.
            sent = spec.made_up_key.identity.fingerprint(header)
            await ctx.remember_sent(spec.link_type, deal.id, spec.object_name, sent)
    update = spec.for_draft(header, draft) if spec.for_draft else header
    await spec.save(
        {
            spec.kind: {**update, "id": int(document_id), "objectName": spec.object_name, "mapAll": True},
            f"{spec.kind}PosSave": positions,
            # The replaced positions go in the same call, so the draft never shows both sets.
            f"{spec.kind}PosDelete": [ref(spec.position_name, p["id"]) for p in old_positions] or None,
            **spec.save_extras,
        }
    )
    return document_id


async def _existing_document(
    ctx: SyncContext, deal: Deal, spec: DraftSpec, link: Link | None
) -> tuple[JsonObject | None, str]:
    """The document to update, and the business key a new one would be created with.

    The linked document; else one holding the CRM's key (made by hand, or a lost create answer); else,
    for a key sevsync makes up, the one an earlier attempt provably created.
    """
    if link is not None and link.sevdesk_id is not None:
        try:
            return await spec.get(link.sevdesk_id), spec.business_key
        except NotFoundError:
            raise await ctx.gone(link) from None
    if spec.made_up_key is None:
        found = unique_match(await spec.find(spec.business_key), spec.what)
        if found is not None:
            await ctx.ensure_unclaimed(spec.link_type, deal.id, spec.object_name, str(found["id"]))
        return found, spec.business_key
    return await _own_document(ctx, deal, spec, spec.made_up_key)


async def _own_document(
    ctx: SyncContext, deal: Deal, spec: DraftSpec, made_up: MadeUpKey
) -> tuple[JsonObject | None, str]:
    """The document an earlier attempt created under a key sevsync made up, or a key free for a new one.

    A key that only others' documents hold is given up (once no create of it can still land).
    """
    pending = await ctx.intent(spec.link_type, deal.id, spec.object_name)
    key = pending.business_key if pending is not None else await _unused_key(ctx, spec)
    for _ in range(MAX_MARKERS):
        found = await spec.find(key)
        if pending is not None and pending.business_key == key:
            mine = own_match(found, pending.sent_fingerprints, made_up.identity, spec.what)
            if mine is not None:
                await ctx.ensure_unclaimed(spec.link_type, deal.id, spec.object_name, str(mine["id"]))
                return mine, key
            if found and pending.may_still_land(ctx.settle_seconds):
                raise ctx.may_still_land(spec.object_name, key)
        if not found:
            return None, key
        await ctx.give_up_key(spec.link_type, deal.id, spec.object_name, key)
        key = await _unused_key(ctx, spec)
    raise _out_of_keys(spec)


async def _unused_key(ctx: SyncContext, spec: DraftSpec) -> str:
    """The first of the document's made-up keys sevsync has not given up."""
    base = spec.business_key
    keys = [base, *(f"{base} ({n})" for n in range(2, MAX_MARKERS + 1))]
    given_up = await ctx.given_up(spec.object_name, keys)
    for key in keys:
        if key not in given_up:
            return key
    raise _out_of_keys(spec)


def _out_of_keys(spec: DraftSpec) -> TransientError:
    return TransientError(
        f"others' documents in sevDesk hold every marker sevsync made up for {spec.what}",
        method="GET",
        path=f"/{spec.object_name}",
    )


async def _create_once(
    ctx: SyncContext,
    deal: Deal,
    spec: DraftSpec,
    header: JsonObject,
    positions: list[JsonObject],
    key: str,
) -> str:
    """Create the document under `key`; a made-up key someone else's document took is given up."""
    for _ in range(MAX_MARKERS):
        try:
            return await _create_under(ctx, deal, spec, header, positions, key)
        except KeyTaken:
            await ctx.give_up_key(spec.link_type, deal.id, spec.object_name, key)
            key = await _unused_key(ctx, spec)
    raise _out_of_keys(spec)


async def _create_under(
    ctx: SyncContext,
    deal: Deal,
    spec: DraftSpec,
    header: JsonObject,
    positions: list[JsonObject],
    key: str,
) -> str:
    made_up = spec.made_up_key
    if made_up is not None:
        header = {**header, made_up.field: key}
    body = {
        spec.kind: {**header, "objectName": spec.object_name, "mapAll": True},
        f"{spec.kind}PosSave": positions,
        f"{spec.kind}PosDelete": None,
        **spec.save_extras,
    }
    sent = made_up.identity.fingerprint(header) if made_up is not None else None
    pending = await ctx.begin_create(spec.link_type, deal.id, spec.object_name, key, sent)
    answer, _ = await create_or_recover(
        ctx,
        pending,
        lambda: spec.save(body),
        lambda: spec.find(key),
        spec.what,
        identity=made_up.identity if made_up is not None else None,
    )
    return str(answer.get(spec.kind, answer)["id"])


def relink(link: Link, version: int, *, cancelled: bool = False, **details: Any) -> LinkWrite:
    """The same link at a newer version (and possibly cancelled, with more details)."""
    return LinkWrite(
        link.entity_type,
        link.entity_id,
        link.sevdesk_object,
        link.sevdesk_id,
        link.sevdesk_number,
        version,
        link.payload_hash,
        {**link.details, **details},
        cancelled=cancelled,
    )
