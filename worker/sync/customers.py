"""customer.created / customer.updated / customer.deleted -> sevDesk Contact and its parts."""

from __future__ import annotations

from typing import Any

from sevsync_events.envelope import Envelope
from sevsync_events.outbound import CustomerLinked
from sevsync_events.payloads import Customer, EntityRef
from sevsync_events.registry import CUSTOMER_LINKED

from ..outcome_words import NO_CHANGE, SEVDESK_LEADS, SEVDESK_REJECTED
from ..sevdesk.errors import NotFoundError, TransientError
from ..sevdesk.objects import JsonObject
from ..store.links import LinkWrite
from . import contact_mapping as cm
from . import customer_numbers, ownership
from .agreed_state import contact_state, written_state_hash
from .contact_parts import ENTITY as ENTITY  # the customer's link type, as others know it from here
from .contact_parts import SyncedContact, sync_parts
from .context import SyncContext
from .recovery import KeyTaken, create_or_recover, own_match, unique_match
from .result import HandlerResult, Outbound, SyncFailure, linked_result

CONTACT = "Contact"
# Numbers drawn for one customer in one attempt that people may take in sevDesk before its create.
MAX_NUMBERS_PER_ATTEMPT = 3


# The version an embedded customer (in a deal) is linked with: it carries none of its own, so any
# customer.created / customer.updated of that customer is newer.
EMBEDDED_VERSION = 0


async def sync_customer(ctx: SyncContext, event: Envelope[Customer]) -> HandlerResult:
    return await apply_customer(ctx, event.data, event.version)


async def ensure_customer(ctx: SyncContext, customer: Customer) -> str:
    """The sevDesk contact id of a customer a document refers to, creating the contact if unlinked.

    A linked customer is never updated from here (the document's copy has no version). The link is
    recorded at once, under the customer's own lock, so the customer's events see it.
    """
    # A link's contact id never changes, so a linked customer needs no lock (two round trips saved).
    link = await ctx.linked_object(ENTITY, customer.id)
    if link is not None:
        return link.object_id
    async with ctx.entity_lock(ENTITY, customer.id):
        link = await ctx.linked_object(ENTITY, customer.id)
        if link is not None:
            return link.object_id
        result = await apply_customer(ctx, customer, EMBEDDED_VERSION)
        await ctx.commit_links(result.links, result.outbound)
        assert result.sevdesk_id is not None
        return result.sevdesk_id


async def apply_customer(ctx: SyncContext, customer: Customer, version: int) -> HandlerResult:
    link = await ctx.linked_object(ENTITY, customer.id)
    plan = cm.plan_contact(customer)
    hashes = plan.part_hashes()
    payload_hash = cm.fingerprint(hashes)
    number_changed = customer.customer_number is not None and (
        link is None or customer.customer_number != link.sevdesk_number
    )
    if link is not None and link.payload_hash == payload_hash and not number_changed:
        return _result(customer.id, link.object_id, link.sevdesk_number, version, link.details, NO_CHANGE)

    old_details: dict[str, Any] = dict(link.details) if link else {}
    old_hashes: dict[str, Any] = dict(old_details.get("hashes") or {})
    if link is None:
        contact = await _find_or_create_contact(ctx, customer, plan)
    else:
        contact = SyncedContact(
            customer.id, link.object_id, customer.customer_number or link.sevdesk_number, may_have_parts=True
        )
        if hashes["contact"] != old_hashes.get("contact") or number_changed:
            try:
                await ctx.api.update_contact(
                    contact.id, cm.contact_update_body(plan, customer.customer_number)
                )
            except NotFoundError:
                raise await ctx.gone(link) from None

    details = await sync_parts(ctx, contact, plan, hashes, old_details)
    details["hashes"] = hashes
    outbound: tuple[Outbound, ...] = ()
    if link is None and customer.customer_number is None and contact.number is not None:
        # The CRM sent no number: tell it which one sevDesk uses.
        linked = CustomerLinked(
            customer_id=customer.id, sevdesk_contact_id=contact.id, customer_number=contact.number
        )
        outbound = (Outbound(CUSTOMER_LINKED, linked),)
    # What this write leaves in sevDesk, as the reconciler reads it back: never told back as a change.
    unwritten = [
        name
        for name, left in (
            ("buyer_reference", "buyer_reference" not in customer.model_fields_set),
            ("address", customer.address is None),
            ("email", customer.email is None and not old_details.get("email_id")),
            ("phone", customer.phone is None and not old_details.get("phone_id")),
        )
        if left  # not sent, so not written: sevDesk's value there is no change (written_state_hash)
    ]
    agreed = written_state_hash(contact_state(customer, contact.number), unwritten)
    return _result(
        customer.id, contact.id, contact.number, version, details, None, payload_hash, outbound, agreed
    )


async def skip_deleted_customer(ctx: SyncContext, event: Envelope[EntityRef]) -> HandlerResult:
    # sevDesk leads: the contact may carry documents, so nothing is deleted there; the link stays.
    link = await ctx.linked_object(ENTITY, event.data.id, broken_ok=True)
    return HandlerResult(
        status="skipped",
        reason=SEVDESK_LEADS,
        sevdesk_object=CONTACT if link else None,
        sevdesk_id=link.sevdesk_id if link else None,
        sevdesk_number=link.sevdesk_number if link else None,
    )


def _result(
    customer_id: str,
    contact_id: str,
    number: str | None,
    version: int,
    details: dict[str, Any],
    skip_reason: str | None,
    payload_hash: str | None = None,
    outbound: tuple[Outbound, ...] = (),
    agreed_hash: str | None = None,
) -> HandlerResult:
    link = LinkWrite(
        entity_type=ENTITY,
        entity_id=customer_id,
        sevdesk_object=CONTACT,
        sevdesk_id=contact_id,
        sevdesk_number=number,
        synced_version=version,
        payload_hash=payload_hash,
        details=details,
        agreed_hash=agreed_hash,
    )
    return linked_result(link, skip_reason=skip_reason, outbound=outbound)


async def _find_or_create_contact(
    ctx: SyncContext, customer: Customer, plan: cm.ContactPlan
) -> SyncedContact:
    api = ctx.api
    if customer.sevdesk_id is not None:
        # The CRM links to a contact that already exists (e.g. one it received from an import).
        try:
            existing = await api.get_contact(customer.sevdesk_id)
        except NotFoundError as exc:
            raise SyncFailure(
                SEVDESK_REJECTED, f"sevDesk has no contact {customer.sevdesk_id}: {exc}", CONTACT
            ) from None
        return await _adopt(ctx, customer.id, existing, plan, customer.customer_number)

    if customer.customer_number is not None:
        # The CRM's number is the business key: a pending create from an earlier attempt, or a
        # contact someone made by hand, is found by it and linked instead of created again.
        number = customer.customer_number
        found = unique_match(await api.find_contacts_by_number(number), f"customer number {number}")
        if found is not None:
            return await _adopt(ctx, customer.id, found, plan, number)
        return await _create(ctx, customer, plan, number, drawn=False)

    # Numbers come from sevDesk one at a time per tenant: the next number is reserved only by the
    # create itself, so allocation and create must not interleave with another customer's. A
    # pending allocation of an earlier attempt is settled under the same lock (see below).
    async with ctx.tenant_lock(customer_numbers.NUMBER_LOCK):
        contact = await _finish_pending_number(ctx, customer, plan)
        if contact is not None:
            return contact
        for _ in range(MAX_NUMBERS_PER_ATTEMPT):
            number = await customer_numbers.allocate(ctx)
            # A worker that died between allocating this number and creating its contact left an
            # intent with it; the number is provably unused, so that create never happened.
            await ctx.claim_key(customer.id, CONTACT, number)
            try:
                return await _create(ctx, customer, plan, number, drawn=True)
            except KeyTaken:
                # Someone took the number in sevDesk before this create got through.
                await ctx.give_up_key(ENTITY, customer.id, CONTACT, number)
        raise TransientError(
            f"the customer numbers drawn for customer {customer.id} were taken in sevDesk "
            f"{MAX_NUMBERS_PER_ATTEMPT} times in a row; drawing again later",
            method="POST",
            path="/Contact",
        )


async def _finish_pending_number(
    ctx: SyncContext, customer: Customer, plan: cm.ContactPlan
) -> SyncedContact | None:
    """Finish a create an earlier attempt began with a number it drew; None when there is none left.

    Its contact is adopted when it is provably the one sent (a crash, a lost answer); a number that
    only others' contacts hold is given up, once no create of it can still land.
    """
    pending = await ctx.intent(ENTITY, customer.id, CONTACT)
    if pending is None:
        return None
    number = pending.business_key
    found = await ctx.api.find_contacts_by_number(number)
    mine = own_match(found, pending.sent_fingerprints, ownership.CONTACT, f"customer number {number}")
    if mine is not None:
        # The update below may rename it (a newer version): whether or not that lands, it stays ours.
        renamed = ownership.CONTACT.fingerprint(cm.contact_create_body(plan, number))
        await ctx.remember_sent(ENTITY, customer.id, CONTACT, renamed)
        return await _adopt(ctx, customer.id, mine, plan, None)
    if found:
        if pending.may_still_land(ctx.settle_seconds):
            # sevsync's own create may land beside the stranger's contact: look again later.
            raise ctx.may_still_land(CONTACT, number)
        await ctx.give_up_key(ENTITY, customer.id, CONTACT, number)
        return None
    # Still ours: had anyone else been given this number since, their allocation would have voided
    # this intent. Not created yet, unless the earlier request is still on its way (begin_create).
    try:
        return await _create(ctx, customer, plan, number, drawn=True)
    except KeyTaken:
        await ctx.give_up_key(ENTITY, customer.id, CONTACT, number)
        return None


async def _create(
    ctx: SyncContext, customer: Customer, plan: cm.ContactPlan, number: str, *, drawn: bool
) -> SyncedContact:
    """Create the customer's contact with `number`, once.

    `drawn` marks a number sevsync took from sevDesk's sequence: a contact found by it after a failed
    create is adopted only when it has the fields sent (else KeyTaken); a number the CRM sent names
    the customer, so any contact holding it is the customer's.
    """
    api = ctx.api
    body = cm.contact_create_body(plan, number)
    pending = await ctx.begin_create(
        ENTITY, customer.id, CONTACT, number, ownership.CONTACT.fingerprint(body)
    )
    created, recovered = await create_or_recover(
        ctx,
        pending,
        lambda: api.create_contact(body),
        lambda: api.find_contacts_by_number(number),
        f"customer number {number}",
        identity=ownership.CONTACT if drawn else None,
    )
    contact_id = str(created["id"])
    if recovered:
        await ctx.ensure_unclaimed(ENTITY, customer.id, CONTACT, contact_id)
    if str(created.get("customerNumber") or "") != number:
        # Read-back check: sevDesk was seen to put another number on a contact than the one sent.
        await api.update_contact(contact_id, {"customerNumber": number})
    return SyncedContact(customer.id, contact_id, number, may_have_parts=recovered)


async def _adopt(
    ctx: SyncContext, customer_id: str, existing: JsonObject, plan: cm.ContactPlan, crm_number: str | None
) -> SyncedContact:
    contact_id = str(existing["id"])
    await ctx.ensure_unclaimed(ENTITY, customer_id, CONTACT, contact_id)
    await ctx.api.update_contact(contact_id, cm.contact_update_body(plan, crm_number))
    number = crm_number or (str(existing["customerNumber"]) if existing.get("customerNumber") else None)
    return SyncedContact(customer_id, contact_id, number, may_have_parts=True)
