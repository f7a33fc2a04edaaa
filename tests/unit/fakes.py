"""In-memory stand-ins for the store and for sevDesk, so handlers run in unit tests without I/O.

`InMemoryEntityStore` keeps what the Postgres store keeps for one tenant (links, write intents,
given-up keys) with the same merge rules (tests/integration/test_entity_store_contract.py runs both
through the same scenarios); its clock is moved by hand. `FakeSevdeskApi` answers the
calls of the product and payment handlers from dicts, records each call, and raises the errors a test
queues for an operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import RetryPolicy
from sevsync.sevdesk.objects import JsonObject
from sevsync.store.intents import Intent, WantedIntent
from sevsync.store.links import Link, LinkWrite
from sevsync.store.outbox import OutboxMessage
from sevsync.store.tenants import TenantRecord
from sevsync.sync.context import SyncContext
from sevsync.sync.entity_store import MarkedBroken
from sevsync.sync.lookups import TenantLookups
from sevsync.sync.told_events import DELETED_IN_SEVDESK, link_broken_message
from sevsync.tenants.settings import TenantSettings

TENANT = "acme"

# When the fake store marks a link broken (it has no clock of dates).
MARKED_BROKEN_AT = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class StoredIntent:
    business_key: str
    created_at: float
    settled: bool = False
    sent_fingerprints: tuple[str, ...] | None = None


IntentKey = tuple[str, str, str]  # (entity type, entity id, sevDesk object)


def _coalesce(new: str | None, old: str | None) -> str | None:
    return new if new is not None else old


class InMemoryEntityStore:
    """One tenant's links and intents in dicts; `now` is the clock intents age by (seconds)."""

    def __init__(self, tenant_id: str = TENANT) -> None:
        self.tenant_id = tenant_id
        self.now = 0.0
        self.links_by_key: dict[tuple[str, str], Link] = {}
        self.intents: dict[IntentKey, StoredIntent] = {}
        self.given_up_keys: set[tuple[str, str]] = set()
        self.learned: dict[str, Any] = {}
        self.outbox: list[OutboxMessage] = []
        self.locks_taken: list[str] = []

    # --- links ------------------------------------------------------------------------------------

    async def link(self, entity_type: str, entity_id: str) -> Link | None:
        return self.links_by_key.get((entity_type, entity_id))

    async def links(self, entity_types: Sequence[str], entity_id: str) -> list[Link]:
        found = (self.links_by_key.get((t, entity_id)) for t in entity_types)
        return [link for link in found if link is not None]

    async def links_of(self, entity_type: str, entity_ids: Iterable[str]) -> list[Link]:
        found = (self.links_by_key.get((entity_type, i)) for i in entity_ids)
        return [link for link in found if link is not None]

    async def entity_linked_to(self, entity_type: str, sevdesk_object: str, sevdesk_id: str) -> str | None:
        for link in self.links_by_key.values():
            if (link.entity_type, link.sevdesk_object, link.sevdesk_id) == (
                entity_type,
                sevdesk_object,
                sevdesk_id,
            ):
                return link.entity_id
        return None

    async def link_unless_other_kind(self, link: LinkWrite) -> bool:
        stored = self.links_by_key.get((link.entity_type, link.entity_id))
        if stored is not None and stored.sevdesk_object not in (None, link.sevdesk_object):
            return False
        self.write_link(link)
        return True

    async def commit_links(self, links: Sequence[LinkWrite], messages: Sequence[OutboxMessage]) -> None:
        for link in links:
            self.write_link(link)
            for key in [k for k in self.intents if k[:2] == (link.entity_type, link.entity_id)]:
                del self.intents[key]
        queued = {m.event_id for m in self.outbox}
        self.outbox.extend(m for m in messages if m.event_id not in queued)

    async def mark_deleted(self, link: Link) -> MarkedBroken:
        """As Postgres: broken once, with one `link.broken` queued and returned; when it was marked broken."""
        stored = self.links_by_key.get((link.entity_type, link.entity_id))
        if stored is None or stored.sevdesk_object is None or stored.sevdesk_id is None:
            return MarkedBroken(None)
        told = None
        if stored.broken_at is None:
            self.break_link(link.entity_type, link.entity_id, MARKED_BROKEN_AT, DELETED_IN_SEVDESK)
            told = link_broken_message(
                self.tenant_id, link.entity_type, link.entity_id, stored.sevdesk_object, stored.sevdesk_id, 1
            )
            self.outbox.append(told)
        return MarkedBroken(self.links_by_key[(link.entity_type, link.entity_id)].broken_at, told)

    def write_link(self, link: LinkWrite) -> None:
        """Write or merge a link as store.links.MERGE_LINK does: only None (SQL's NULL) keeps the old
        number and hash, as COALESCE does; an empty one replaces them."""
        old = self.links_by_key.get((link.entity_type, link.entity_id))
        versions = [v for v in (link.synced_version, old.synced_version if old else None) if v is not None]
        self.links_by_key[(link.entity_type, link.entity_id)] = Link(
            tenant_id=self.tenant_id,
            entity_type=link.entity_type,
            entity_id=link.entity_id,
            sevdesk_object=link.sevdesk_object,
            sevdesk_id=link.sevdesk_id,
            sevdesk_number=_coalesce(link.sevdesk_number, old.sevdesk_number if old else None),
            synced_version=max(versions) if versions else None,
            payload_hash=_coalesce(link.payload_hash, old.payload_hash if old else None),
            details=dict(link.details),
            cancelled=link.cancelled or (old.cancelled if old else False),
            # A write never mends a broken link: only relink or clear does (tenants.links).
            broken_at=old.broken_at if old else None,
            broken_reason=old.broken_reason if old else None,
        )

    def break_link(self, entity_type: str, entity_id: str, when: datetime, reason: str) -> None:
        """What the reconciler does in Postgres when the linked object is gone from sevDesk."""
        key = (entity_type, entity_id)
        self.links_by_key[key] = replace(self.links_by_key[key], broken_at=when, broken_reason=reason)

    # --- intents ----------------------------------------------------------------------------------

    async def intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> Intent | None:
        stored = self.intents.get((entity_type, entity_id, sevdesk_object))
        if stored is None:
            return None
        age = self.now - stored.created_at
        return Intent(stored.business_key, age, stored.settled, stored.sent_fingerprints)

    async def save_intent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, business_key: str
    ) -> None:
        self.intents[(entity_type, entity_id, sevdesk_object)] = StoredIntent(business_key, self.now)

    async def save_intent_unless_pending(
        self,
        entity_type: str,
        entity_id: str,
        sevdesk_object: str,
        business_key: str,
        settle_seconds: float,
        sent_fingerprint: str | None,
    ) -> Intent | None:
        key = (entity_type, entity_id, sevdesk_object)
        earlier = self.intents.get(key)
        if earlier is not None and not earlier.settled and self.now - earlier.created_at < settle_seconds:
            return Intent(earlier.business_key, self.now - earlier.created_at)
        sent = (sent_fingerprint,) if sent_fingerprint is not None else None
        self.intents[key] = StoredIntent(business_key, self.now, sent_fingerprints=sent)
        return None

    async def save_intents_unless_pending(
        self, entity_type: str, entity_id: str, wanted: Sequence[WantedIntent], settle_seconds: float
    ) -> dict[str, Intent]:
        earlier: dict[str, Intent] = {}
        for w in wanted:
            stored = self.intents.get((entity_type, entity_id, w.sevdesk_object))
            if stored is not None and not stored.settled and self.now - stored.created_at < settle_seconds:
                earlier[w.sevdesk_object] = Intent(stored.business_key, self.now - stored.created_at)
        if earlier:
            return earlier  # all or nothing, as the store's one statement
        for w in wanted:
            await self.save_intent_unless_pending(
                entity_type, entity_id, w.sevdesk_object, w.business_key, settle_seconds, w.sent_fingerprint
            )
        return earlier

    async def settle_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        stored = self.intents.get((entity_type, entity_id, sevdesk_object))
        if stored is not None:
            stored.settled = True

    async def resend_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        stored = self.intents.get((entity_type, entity_id, sevdesk_object))
        if stored is not None:
            stored.created_at, stored.settled = self.now, False

    async def delete_intent(self, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
        self.intents.pop((entity_type, entity_id, sevdesk_object), None)

    async def remember_sent(
        self, entity_type: str, entity_id: str, sevdesk_object: str, sent_fingerprint: str
    ) -> None:
        stored = self.intents.get((entity_type, entity_id, sevdesk_object))
        if stored is not None and sent_fingerprint not in (stored.sent_fingerprints or ()):
            stored.sent_fingerprints = (*(stored.sent_fingerprints or ()), sent_fingerprint)

    async def intents_of_others(self, entity_type: str, sevdesk_object: str, entity_id: str) -> list[str]:
        return [
            k[1] for k in self.intents if k[0] == entity_type and k[2] == sevdesk_object and k[1] != entity_id
        ]

    async def give_up_key(
        self, sevdesk_object: str, business_key: str, entity_type: str, entity_id: str
    ) -> None:
        self.given_up_keys.add((sevdesk_object, business_key))
        key = (entity_type, entity_id, sevdesk_object)
        stored = self.intents.get(key)
        if stored is not None and stored.business_key == business_key:
            del self.intents[key]

    async def given_up_among(self, sevdesk_object: str, business_keys: Sequence[str]) -> set[str]:
        return {k for k in business_keys if (sevdesk_object, k) in self.given_up_keys}

    async def claim_key(
        self, sevdesk_object: str, business_key: str, entity_id: str, younger_than: float
    ) -> list[str]:
        others = [
            k
            for k, stored in self.intents.items()
            if k[2] == sevdesk_object and stored.business_key == business_key and k[1] != entity_id
        ]
        young = [
            k[1]
            for k in others
            if not self.intents[k].settled and self.now - self.intents[k].created_at < younger_than
        ]
        if not young:
            for k in others:
                del self.intents[k]
        return young

    # --- the tenant and locks ---------------------------------------------------------------------

    async def learn_settings(self, learned: dict[str, Any]) -> None:
        self.learned.update(learned)

    @asynccontextmanager
    async def advisory_lock(self, key: str) -> AsyncIterator[None]:
        self.locks_taken.append(key)
        yield


class FakeSevdeskApi(SevdeskApi):
    """sevDesk's parts, invoices, vouchers and check accounts as dicts by id.

    `calls` records each operation with its arguments. `fail_next[operation]` holds errors raised, one
    per call, before the operation runs; `lose_answer[operation]` those raised after a write took
    effect (its answer lost). Any operation not faked here fails the test.
    """

    def __init__(self) -> None:  # no client: nothing goes over the wire
        self.calls: list[tuple[Any, ...]] = []
        self.fail_next: dict[str, list[Exception]] = {}
        self.lose_answer: dict[str, list[Exception]] = {}
        self.parts: dict[str, JsonObject] = {}
        self.documents: dict[tuple[str, str], JsonObject] = {}  # by (object name, id)
        self.check_accounts: dict[str, JsonObject] = {}
        self.transactions: list[JsonObject] = []
        self.bookings: list[tuple[str, str, JsonObject]] = []  # (object name, id, body)
        self._last_id = 100

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise AssertionError(f"unexpected sevDesk call {method} {path}")

    def _record(self, operation: str, *args: Any) -> None:
        self.calls.append((operation, *args))
        queued = self.fail_next.get(operation)
        if queued:
            raise queued.pop(0)

    def _answer(self, operation: str, answer: JsonObject) -> JsonObject:
        lost = self.lose_answer.get(operation)
        if lost:
            raise lost.pop(0)
        return dict(answer)

    def operations(self) -> list[str]:
        return [call[0] for call in self.calls]

    def _new_id(self) -> str:
        self._last_id += 1
        return str(self._last_id)

    # --- parts ------------------------------------------------------------------------------------

    async def find_parts_by_number(self, part_number: str) -> list[JsonObject]:
        self._record("find_parts_by_number", part_number)
        return [dict(p) for p in self.parts.values() if p.get("partNumber") == part_number]

    async def get_part(self, part_id: str) -> JsonObject:
        self._record("get_part", part_id)
        return dict(self.parts[part_id])

    async def create_part(self, body: JsonObject) -> JsonObject:
        self._record("create_part", body)
        part = {**body, "id": self._new_id(), "objectName": "Part"}
        self.parts[part["id"]] = part
        return self._answer("create_part", part)

    async def update_part(self, part_id: str, body: JsonObject) -> JsonObject:
        self._record("update_part", part_id, body)
        self.parts[part_id] = {**self.parts[part_id], **body}
        return dict(self.parts[part_id])

    # --- documents and bookings -------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> JsonObject:
        self._record("get_invoice", invoice_id)
        return dict(self.documents[("Invoice", invoice_id)])

    async def get_voucher(self, voucher_id: str) -> JsonObject:
        self._record("get_voucher", voucher_id)
        return dict(self.documents[("Voucher", voucher_id)])

    async def get_check_account(self, check_account_id: str) -> JsonObject:
        self._record("get_check_account", check_account_id)
        return dict(self.check_accounts[check_account_id])

    async def find_transactions(self, check_account_id: str, purpose: str) -> list[JsonObject]:
        self._record("find_transactions", check_account_id, purpose)
        return [
            dict(t)
            for t in self.transactions
            if t["checkAccount"] == check_account_id and purpose in str(t.get("paymtPurpose"))
        ]

    async def book_invoice(self, invoice_id: str, body: JsonObject) -> JsonObject:
        self._record("book_invoice", invoice_id, body)
        return self._answer("book_invoice", self._book("Invoice", invoice_id, body))

    async def book_voucher(self, voucher_id: str, body: JsonObject) -> JsonObject:
        self._record("book_voucher", voucher_id, body)
        return self._answer("book_voucher", self._book("Voucher", voucher_id, body))

    def _book(self, object_name: str, document_id: str, body: JsonObject) -> JsonObject:
        document = self.documents[(object_name, document_id)]
        self.pay(object_name, document_id, body["amount"])
        self.bookings.append((object_name, document_id, body))
        return document

    def pay(self, object_name: str, document_id: str, amount: str) -> None:
        """Book an amount on a document, as a booking (or a person in sevDesk) does."""
        document = self.documents[(object_name, document_id)]
        document["paidAmount"] = str(Decimal(str(document.get("paidAmount") or 0)) + Decimal(amount))


def fake_context(
    store: InMemoryEntityStore, api: FakeSevdeskApi, settings: TenantSettings | None = None
) -> SyncContext:
    """A handler's context on the fakes, for the tenant `TENANT`."""
    tenant = TenantRecord(TENANT, "sevdesk", "connected", True, settings or TenantSettings(), "sealed", None)
    return SyncContext(store=store, tenant=tenant, api=api, lookups=TenantLookups())
