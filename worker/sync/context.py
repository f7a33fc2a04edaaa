"""Everything a handler needs for one event: the tenant, its sevDesk API, and its store.

The store (see entity_store) is in production bound to the entity's locked database connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..outcome_words import AMBIGUOUS_MATCH
from ..sevdesk.api import SevdeskApi
from ..sevdesk.errors import UncertainWriteError
from ..store.intents import Intent, WantedIntent
from ..store.links import Link, LinkWrite
from ..store.outbox import OutboxMessage
from ..store.tenants import TenantRecord
from .broken_links import broken_failure, first_broken
from .document_intake import DocumentIntake
from .entity_store import EntityStore
from .locks import entity_lock_key
from .lookups import TenantLookups
from .result import Outbound, SyncFailure
from .told_events import DELETED_IN_SEVDESK

LinkT = TypeVar("LinkT", Link, Link | None)


@dataclass(frozen=True)
class PendingCreate:
    """A create whose intent is recorded: whose it is, its business key, and what it sent."""

    entity_type: str
    entity_id: str
    sevdesk_object: str
    business_key: str
    # The fingerprint of the identifying fields sent (see ownership); None where the key names the
    # entity by itself (a key the CRM owns) and any object holding it is the entity's.
    sent_fingerprint: str | None = None


@dataclass
class SyncContext:
    # The tenant's links and intents, bound to the entity's locked connection in production.
    store: EntityStore
    tenant: TenantRecord
    api: SevdeskApi
    lookups: TenantLookups
    # How long a create sent by an attempt that died may still land in sevDesk (see begin_create).
    settle_seconds: float = 60.0
    # Builds the outbox message of an extra outbound event of this event (see commit_links).
    outbound_message: Callable[[Outbound], OutboxMessage] | None = None
    # Links the processor read with the event's state under the entity's lock, by (entity type,
    # entity id); None for one known to be absent. A round trip saved per lookup; dropped once written.
    known_links: dict[tuple[str, str], Link | None] = field(default_factory=dict)
    # How an invoice's document is decoded or fetched and checked (the worker's settings).
    documents: DocumentIntake = field(default_factory=DocumentIntake)
    # Outbound messages the handler committed to the outbox on its way (a `link.broken` of `gone`):
    # the processor publishes them right after the event's commit, with its own.
    told: list[OutboxMessage] = field(default_factory=list)

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id

    async def link(self, entity_type: str, entity_id: str, *, broken_ok: bool = False) -> Link | None:
        """The entity's link; a broken one fails the event (link_broken) unless `broken_ok` (a read
        that leads to no write, e.g. a deletion skipped because sevDesk leads)."""
        key = (entity_type, entity_id)
        found = self.known_links[key] if key in self.known_links else await self.store.link(*key)
        return found if broken_ok else self._usable([found])[0]

    async def linked_object(
        self, entity_type: str, entity_id: str, *, broken_ok: bool = False
    ) -> Link | None:
        """The entity's link if it points at a sevDesk object: a cleared link keeps its row (its
        versions and cancellation) without one, and the entity's next event creates anew."""
        link = await self.link(entity_type, entity_id, broken_ok=broken_ok)
        return link if link is not None and link.sevdesk_id is not None else None

    async def links(self, entity_types: Sequence[str], entity_id: str) -> dict[str, Link]:
        """The links of one CRM entity by link type (a deal has an offer and an invoice)."""
        keys = [(entity_type, entity_id) for entity_type in entity_types]
        if all(key in self.known_links for key in keys):
            found = [link for link in (self.known_links[key] for key in keys) if link is not None]
        else:
            found = await self.store.links(entity_types, entity_id)
        return {link.entity_type: link for link in self._usable(found)}

    async def links_of(self, entity_type: str, entity_ids: Iterable[str]) -> dict[str, Link]:
        """The links of several CRM entities of one type by entity id (a deal's products), in one read."""
        found = self._usable(await self.store.links_of(entity_type, entity_ids))
        return {link.entity_id: link for link in found}

    async def gone(self, link: Link) -> SyncFailure:
        """The failure to raise when sevDesk answers 404 for the linked object: the link is broken
        now (told once as `link.broken`, as the reconciler's sweep would), and so is this event."""
        marked = await self.store.mark_deleted(link)
        if marked.told is not None:
            self.told.append(marked.told)
        broken = dataclasses.replace(link, broken_at=marked.broken_at, broken_reason=DELETED_IN_SEVDESK)
        self.known_links.pop((link.entity_type, link.entity_id), None)
        return broken_failure(self.tenant_id, broken)

    def _usable(self, found: Sequence[LinkT]) -> Sequence[LinkT]:
        """Every link a handler reads is one it may write through: the one place that refuses a
        link whose sevDesk object is gone (broken_links), before any sevDesk call depends on it."""
        # A cancelled link is skipped as `cancelled` by its handler before any write: that wins.
        broken = first_broken(link for link in found if link is not None and not link.cancelled)
        if broken is not None:
            raise broken_failure(self.tenant_id, broken)
        return found

    async def intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> Intent | None:
        return await self.store.intent(entity_type, entity_id, sevdesk_object)

    async def begin_create(
        self,
        entity_type: str,
        entity_id: str,
        sevdesk_object: str,
        business_key: str,
        sent_fingerprint: str | None = None,
    ) -> PendingCreate:
        """Record the intent of a create about to be sent, after a search by its key found nothing.

        A worker killed just after sending a create releases its locks at once, but its request may
        still be on the wire and land in sevDesk a moment later. So an earlier attempt's intent that
        is younger than `settle_seconds` is not overruled by creating again: the event waits on the
        retry ladder and looks again. `sent_fingerprint` is kept with the intent as the proof of what
        this create sent (a key sevsync made up, see ownership).
        """
        pending = await self.store.save_intent_unless_pending(
            entity_type,
            entity_id,
            sevdesk_object,
            business_key,
            self.settle_seconds,
            sent_fingerprint,
        )
        if pending is not None:
            raise self.may_still_land(sevdesk_object, pending.business_key)
        return PendingCreate(entity_type, entity_id, sevdesk_object, business_key, sent_fingerprint)

    async def begin_creates(
        self, entity_type: str, entity_id: str, wanted: Sequence[WantedIntent]
    ) -> dict[str, PendingCreate | UncertainWriteError]:
        """begin_create for several creates of one entity, sent side by side: their intents are saved
        in one statement. By kind of object: the create to send, or the wait for an earlier attempt's
        create of that kind that may still land (nothing saved for it)."""
        earlier = await self.store.save_intents_unless_pending(
            entity_type, entity_id, wanted, self.settle_seconds
        )
        begun: dict[str, PendingCreate | UncertainWriteError] = {}
        for w in wanted:
            pending = earlier.get(w.sevdesk_object)
            begun[w.sevdesk_object] = (
                self.may_still_land(w.sevdesk_object, pending.business_key)
                if pending is not None
                else PendingCreate(
                    entity_type, entity_id, w.sevdesk_object, w.business_key, w.sent_fingerprint
                )
            )
        return begun

    @staticmethod
    def may_still_land(sevdesk_object: str, business_key: str) -> UncertainWriteError:
        """The wait for an earlier attempt's create that may still be on its way to sevDesk."""
        return UncertainWriteError(
            f"an earlier attempt's create ({business_key}) may still land; looking again later",
            method="POST",
            path=f"/{sevdesk_object}",
        )

    async def settle(self, pending: PendingCreate) -> None:
        """Nothing of this create is in flight (sevDesk answered it 500/503)."""
        await self.settle_intent(pending.entity_type, pending.entity_id, pending.sevdesk_object)

    async def resending(self, pending: PendingCreate) -> None:
        """This create is sent again (after an answered 500/503 without effect): the settle window
        of a later attempt counts from now, since this send may be the one still in flight."""
        await self.resend_intent(pending.entity_type, pending.entity_id, pending.sevdesk_object)

    async def remember_sent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sent_fingerprint: str
    ) -> None:
        """Before sevsync changes identifying fields of an object it adopted but has not linked yet:
        the object stays provably its own, whether or not the change lands (see ownership)."""
        await self.store.remember_sent(entity_type, entity_id, sevdesk_object, sent_fingerprint)

    async def give_up_key(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None:
        """Someone else's object holds a key sevsync made up: never create with it again."""
        await self.store.give_up_key(sevdesk_object, business_key, entity_type, entity_id)

    async def given_up(self, sevdesk_object: str, business_keys: Sequence[str]) -> set[str]:
        """Which of these keys sevsync has given up (for this tenant and kind of object)."""
        return await self.store.given_up_among(sevdesk_object, business_keys)

    async def claim_key(self, entity_id: str, sevdesk_object: str, business_key: str) -> None:
        """Take over a key (a customer number) that sevDesk just proved unused from other entities' intents.

        Their creates never happened, unless one is so recent that it may still be in flight.
        """
        holders = await self.store.claim_key(sevdesk_object, business_key, entity_id, self.settle_seconds)
        if holders:
            raise UncertainWriteError(
                f"{business_key} was given to {', '.join(holders)} moments ago and may still be created; "
                "looking again later",
                method="POST",
                path=f"/{sevdesk_object}",
            )

    async def save_intent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None:
        await self.store.save_intent(entity_type, entity_id, sevdesk_object, business_key)

    async def ensure_unclaimed(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sevdesk_id: str
    ) -> None:
        """Refuse to adopt a sevDesk object that is linked to another CRM entity already."""
        owner = await self.store.entity_linked_to(entity_type, sevdesk_object, sevdesk_id)
        if owner is not None and owner != entity_id:
            raise SyncFailure(
                AMBIGUOUS_MATCH,
                f"sevDesk {sevdesk_object} {sevdesk_id} is already linked to CRM {entity_type} {owner}",
                sevdesk_object,
            )

    def tenant_lock(self, purpose: str) -> AbstractAsyncContextManager[None]:
        """Serialise one kind of work per tenant across all worker processes (e.g. number allocation)."""
        return self.store.advisory_lock(f"sevsync:{purpose}:{self.tenant_id}")

    def entity_lock(self, entity_type: str, entity_id: str) -> AbstractAsyncContextManager[None]:
        """Hold another CRM entity as its own events do (a deal creating its customer)."""
        return self.store.advisory_lock(entity_lock_key(self.tenant_id, entity_type, entity_id))

    async def commit_links(self, links: Sequence[LinkWrite], outbound: Sequence[Outbound] = ()) -> None:
        """Record links at once, ahead of the event's outcome (an object another entity owns was created).

        Their outbound events go to the outbox in the same transaction; the relay publishes them.
        """
        messages = [self.outbound_message(o) for o in outbound] if self.outbound_message else []
        for link in links:
            self.known_links.pop((link.entity_type, link.entity_id), None)
        await self.store.commit_links(links, messages)

    async def link_unless_other_kind(self, link: LinkWrite) -> bool:
        """Record a link at once unless its row links another kind of sevDesk object (a link type two
        kinds of CRM entity share); whether it was written."""
        self.known_links.pop((link.entity_type, link.entity_id), None)
        return await self.store.link_unless_other_kind(link)

    async def settle_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        """Nothing of this intent's write is in flight (sevDesk answered it)."""
        await self.store.settle_intent(entity_type, entity_id, sevdesk_object)

    async def resend_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        """This intent's write is sent again: a later attempt's settle window counts from now."""
        await self.store.resend_intent(entity_type, entity_id, sevdesk_object)

    async def drop_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        """This intent's write was refused or provably did not land: nothing is left to look for."""
        await self.store.delete_intent(entity_type, entity_id, sevdesk_object)

    async def intents_of_others(self, entity_type: str, sevdesk_object: str, entity_id: str) -> list[str]:
        """The other entities of `entity_type` whose write on this sevDesk object is unconfirmed."""
        return await self.store.intents_of_others(entity_type, sevdesk_object, entity_id)

    async def learn_settings(self, learned: dict[str, Any]) -> None:
        """Remember what the tenant's sevDesk account turned out to need, for its later events."""
        await self.store.learn_settings(learned)
