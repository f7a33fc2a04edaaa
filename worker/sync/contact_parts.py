"""A customer's contact parts (address, e-mail, phone, contact person), written side by side.

Once the contact exists its parts do not depend on each other, so their sevDesk calls run at the
same time (serially, at ~100 ms a call, they made most of a create's latency). Each part still keeps
the rules of one: update in place when its id is known, else adopt the one an earlier attempt made,
else create it exactly once (its intent first, see recovery); never add a twin.

Three rounds: (1) every part finds and updates what exists (parts that need the same listing of the
contact share one request); (2) the intents of all parts still to create are saved in ONE statement,
or none when an earlier attempt's create of one may still land (the attempt then waits, sending
nothing); (3) those creates are sent. A contact person is found again only by its name, so for a
contact that may have parts and no known person id it goes after the others (see sync_parts).
The store takes one call at a time (entity_store), since it is bound to one connection: a part's
own store calls (settling an answered create) wait for their turn.

A failing part stops none of the others, and no call sent is abandoned: all are let finish, then
the first failure in the fixed order address, e-mail, phone, person is raised (as the serial order
would have met it), whichever finished first, except that a create whose answer was lost goes
before any refusal (see _raise_deciding). A failure in the first round sends no create at all.
Nothing of the event is recorded then, as before; the parts created meanwhile are adopted by the
next attempt (their contact may have parts by then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..sevdesk.api import SevdeskApi
from ..sevdesk.errors import AnsweredWriteError, NotFoundError, UncertainWriteError
from ..sevdesk.objects import JsonObject
from ..store.intents import WantedIntent
from . import contact_mapping as cm
from .context import PendingCreate, SyncContext
from .recovery import Finder, create_or_recover

ENTITY = "customer"
# Write-intent kind of a company's contact person (a Contact too, but with its own intent).
CONTACT_PERSON = "ContactPerson"
ADDRESS = "ContactAddress"
COMMUNICATION_WAY = "CommunicationWay"


@dataclass
class SyncedContact:
    customer_id: str
    id: str
    number: str | None
    # False only for a contact this attempt has just created: it cannot have parts yet.
    may_have_parts: bool


@dataclass(frozen=True)
class _Create:
    """A part still to create: its intent, the create, and how to find it after a lost answer."""

    intent: WantedIntent
    what: str  # for messages, e.g. "the address of contact 12"
    create: Callable[[], Awaitable[JsonObject]]
    find: Finder


# How a part's first round ends: its id (updated in place or adopted), None (removed), or a create.
_Step = str | None | _Create
# A part's first round; sync_parts keeps them in the order whose first failure wins.
_Part = Callable[[], Awaitable[_Step]]
# A part's id looked up in a listing of the contact's objects; True asks for a fresh listing.
_Lookup = Callable[[bool], Awaitable[JsonObject | None]]


async def sync_parts(
    ctx: SyncContext,
    contact: SyncedContact,
    plan: cm.ContactPlan,
    hashes: dict[str, str | None],
    old: dict[str, Any],
) -> dict[str, Any]:
    """The link's details after writing the parts that changed (or have no id yet) side by side."""
    old_hashes: dict[str, Any] = dict(old.get("hashes") or {})
    details: dict[str, Any] = {k: v for k, v in old.items() if k != "hashes"}
    listing = ContactListing(ctx.api, contact.id)
    parts: dict[str, _Part] = {}  # by the key of its id in the details, in the order failures win

    if plan.address is not None and (
        hashes["address"] != old_hashes.get("address") or not old.get("address_id")
    ):
        parts["address_id"] = partial(_address, ctx, contact, plan.address, old.get("address_id"), listing)

    for kind, value, key in (("EMAIL", plan.email, "email_id"), ("PHONE", plan.phone, "phone_id")):
        field = kind.lower()
        if value is None:
            if old.get(key):
                parts[key] = partial(_remove_way, ctx.api, str(old[key]))
            continue
        if hashes[field] != old_hashes.get(field) or not old.get(key):
            parts[key] = partial(_way, ctx, contact, kind, value, old.get(key), listing)

    person: dict[str, _Part] = {}
    if plan.person is not None and (hashes["person"] != old_hashes.get("person") or not old.get("person_id")):
        person["person_id"] = partial(_person, ctx, contact, plan, old.get("person_id"))

    if contact.may_have_parts and not old.get("person_id"):
        # A person is found again only by its name (or the name its intent remembers), which a newer
        # version may change: it is created or renamed only once the other parts are written, so an
        # attempt that fails on them leaves no person a later version cannot find.
        written = await _write_side_by_side(ctx, contact.customer_id, parts)
        written |= await _write_side_by_side(ctx, contact.customer_id, person)
    else:
        written = await _write_side_by_side(ctx, contact.customer_id, parts | person)
    for key, part_id in written.items():
        if part_id is None:
            details.pop(key, None)
        else:
            details[key] = part_id
    return details


async def _write_side_by_side(
    ctx: SyncContext, customer_id: str, parts: dict[str, _Part]
) -> dict[str, str | None]:
    """Run the parts' rounds; their ids (None: removed), or the first failure in `parts`' order."""
    # return_exceptions: a failure must not cancel a sibling whose write is on its way.
    firsts = await asyncio.gather(*(part() for part in parts.values()), return_exceptions=True)
    outcomes: dict[str, _Step | BaseException] = dict(zip(parts, firsts, strict=True))
    _raise_deciding(outcomes.values())  # an event already failing sends no create
    creates = {key: step for key, step in outcomes.items() if isinstance(step, _Create)}
    if creates:
        begun = await ctx.begin_creates(ENTITY, customer_id, [c.intent for c in creates.values()])
        # An earlier attempt's create that may still land makes this attempt wait: none is sent then.
        _raise_deciding(begun.values())
        sent = await asyncio.gather(
            *(_send(ctx, begun[c.intent.sevdesk_object], c) for c in creates.values()),
            return_exceptions=True,
        )
        outcomes.update(zip(creates, sent, strict=True))
    _raise_deciding(outcomes.values())
    return {
        key: outcome for key, outcome in outcomes.items() if not isinstance(outcome, (_Create, BaseException))
    }


def _raise_deciding(outcomes: Iterable[object]) -> None:
    """Raise the failure that decides the event, if any part failed.

    A create whose answer was lost (unanswered, it may still land) comes first: the event must wait
    and look again with its intents kept, where a refusal of another part would end it and settle
    them, so that the next attempt created that part a second time. Else the first in order.
    """
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    unanswered = [
        f for f in failures if isinstance(f, UncertainWriteError) and not isinstance(f, AnsweredWriteError)
    ]
    if unanswered or failures:
        raise (unanswered or failures)[0]


async def _send(ctx: SyncContext, begun: PendingCreate | UncertainWriteError, part: _Create) -> str:
    if isinstance(begun, UncertainWriteError):
        raise begun  # an earlier attempt's create of this part may still land
    created, _ = await create_or_recover(ctx, begun, part.create, part.find, part.what)
    return str(created["id"])


async def _in_place(
    contact: SyncedContact, known_id: str | None, find: _Lookup, update: Callable[[str], Awaitable[object]]
) -> str | None:
    """The part's id once updated in place (the known one, or one found); None when it must be created."""
    if known_id is None and contact.may_have_parts:
        existing = await find(False)
        known_id = str(existing["id"]) if existing else None
    if known_id is not None:
        try:
            await update(known_id)
            return known_id
        except NotFoundError:
            pass  # deleted in sevDesk meanwhile: create a new one
    return None


def _after_lost_answer(find: _Lookup) -> Finder:
    async def look() -> list[JsonObject]:
        found = await find(True)
        return [found] if found else []

    return look


class ContactListing:
    """Lists a contact's addresses and communication ways at most once per event, and only if needed.

    Parts that ask at the same time share one request. A fresh listing (after a lost answer) is a
    request of its own: one already under way may have been answered before that create landed.
    """

    def __init__(self, api: SevdeskApi, contact_id: str) -> None:
        self._api = api
        self._contact_id = contact_id
        self._addresses: asyncio.Future[list[JsonObject]] | None = None
        self._ways: asyncio.Future[list[JsonObject]] | None = None

    async def addresses(self, *, refresh: bool = False) -> list[JsonObject]:
        if self._addresses is None or refresh:
            self._addresses = asyncio.ensure_future(self._api.list_addresses(self._contact_id))
        return await self._addresses

    async def ways(self, *, refresh: bool = False) -> list[JsonObject]:
        if self._ways is None or refresh:
            self._ways = asyncio.ensure_future(self._api.list_communication_ways(self._contact_id))
        return await self._ways


async def _address(
    ctx: SyncContext,
    contact: SyncedContact,
    address: cm.AddressPlan,
    known_id: str | None,
    listing: ContactListing,
) -> _Step:
    api = ctx.api
    # Before any intent: an unknown country fails the part without leaving a create to wait for.
    country_id = await ctx.lookups.country_id(api, address.country_code)
    body = cm.address_body(address, contact.id, country_id)

    async def find(refresh: bool) -> JsonObject | None:
        return cm.pick_existing_address(await listing.addresses(refresh=refresh))

    updated = await _in_place(
        contact, known_id, find, lambda address_id: api.update_address(address_id, body)
    )
    if updated is not None:
        return updated
    return _Create(
        WantedIntent(ADDRESS, contact.id),
        f"the address of contact {contact.id}",
        lambda: api.create_address(body),
        _after_lost_answer(find),
    )


async def _way(
    ctx: SyncContext,
    contact: SyncedContact,
    kind: str,
    value: str,
    known_id: str | None,
    listing: ContactListing,
) -> _Step:
    api = ctx.api
    body = cm.communication_way_body(kind, value, contact.id)

    async def find(refresh: bool) -> JsonObject | None:
        return cm.pick_existing_way(await listing.ways(refresh=refresh), kind)

    updated = await _in_place(
        contact, known_id, find, lambda way_id: api.update_communication_way(way_id, body)
    )
    if updated is not None:
        return updated
    return _Create(
        WantedIntent(f"{COMMUNICATION_WAY}:{kind}", contact.id),
        f"the {kind.lower()} entry of contact {contact.id}",
        lambda: api.create_communication_way(body),
        _after_lost_answer(find),
    )


async def _remove_way(api: SevdeskApi, way_id: str) -> _Step:
    # The CRM removed it: remove the entry sevsync made, so sevDesk does not keep stale data.
    with contextlib.suppress(NotFoundError):
        await api.delete_communication_way(way_id)
    return None


async def _person(
    ctx: SyncContext, contact: SyncedContact, plan: cm.ContactPlan, known_id: str | None
) -> _Step:
    api = ctx.api
    body = cm.person_body(plan, contact.id)

    async def find(refresh: bool) -> JsonObject | None:
        persons = await api.find_contact_persons(contact.id)  # always a fresh listing
        # A person an earlier attempt created but could not record carries the name of *that*
        # attempt, which a newer version may have changed: its intent remembers which name it was.
        pending = await ctx.intent(ENTITY, contact.customer_id, CONTACT_PERSON)
        named = cm.person_named(persons, pending.business_key) if pending else None
        return named or cm.pick_existing_person(persons, plan)

    updated = await _in_place(contact, known_id, find, lambda person_id: api.update_contact(person_id, body))
    if updated is not None:
        return updated
    return _Create(
        WantedIntent(CONTACT_PERSON, cm.person_key(plan)),
        f"the contact person of contact {contact.id}",
        lambda: api.create_contact(body),
        _after_lost_answer(find),
    )
