"""The processor on fakes: an in-memory event store, and a fake handler that calls a scripted sevDesk
through the real SevdeskApi, so the processor counts its calls as it counts a real client's.

Each test sends one delivery's body (and the facts the broker read from its headers) and checks the
decision handed back to the broker and the records the store was given.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiolimiter import AsyncLimiter
from cryptography.fernet import Fernet

from sevsync.disposition import MALFORMED_TYPE, UNKNOWN_TYPE, Decision, Disposition
from sevsync.retry_schedule import RetrySchedule
from sevsync.sevdesk.client import FormFile, SevdeskClient, current_call_counter
from sevsync.sevdesk.errors import AuthError, TransientError
from sevsync.sevdesk.token import ApiToken
from sevsync.store.links import LinkWrite
from sevsync.store.outbox import OutboxMessage
from sevsync.store.tenants import TenantRecord
from sevsync.sync.context import SyncContext
from sevsync.sync.handlers import Handler
from sevsync.sync.locks import entity_lock_key
from sevsync.sync.processor import Processor
from sevsync.sync.result import HandlerResult, SyncFailure, linked_result
from sevsync.sync.throttle import Throttle
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.settings import TenantSettings
from sevsync_events.envelope import Envelope

from ..samples import product
from .fake_event_store import FakeEventStore

SCHEDULE = RetrySchedule((timedelta(seconds=10), timedelta(minutes=1)))
CIPHER = TokenCipher(Fernet.generate_key().decode())


class FakeSevdesk(SevdeskClient):
    """A sevDesk client over no wire: each request answers with the next scripted failure, or a contact.

    Like the real client, it counts each request on the event's `current_call_counter`.
    """

    def __init__(self, *failures: Exception) -> None:
        super().__init__("http://sevdesk.invalid")
        self.failures = list(failures)
        self.calls = 0
        # When set by a test, every request waits for it: the entity's lock stays held meanwhile.
        self.hold: asyncio.Event | None = None

    async def request(
        self,
        token: ApiToken,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        upload: FormFile | None = None,
        pace: AsyncLimiter | None = None,
        idempotent: bool = False,
        envelope: bool = False,
    ) -> Any:
        self.calls += 1
        counter = current_call_counter.get()
        if counter is not None:
            counter.add(method, path)
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            raise self.failures.pop(0)
        return [{"id": "77", "objectName": "Contact"}]


async def sync_customer(ctx: SyncContext, event: Envelope[Any]) -> HandlerResult:
    """Creates the contact and links it: a newer version applied makes an older one stale."""
    await ctx.store.save_intent("customer", event.data.id, "Contact", "K-1")
    contact = await ctx.api.create_contact({"name": "Erika Musterfrau"})
    link = LinkWrite("customer", event.data.id, "Contact", str(contact["id"]), None, event.version)
    return linked_result(link)


CUSTOMER_HANDLER = Handler(
    entity_type="customer", run=sync_customer, link_types=("customer",), coalesce="customer"
)


def tenant(enabled: bool = True, cipher: TokenCipher = CIPHER) -> TenantRecord:
    token = cipher.encrypt(ApiToken("token-of-acme"))
    return TenantRecord("acme", "sevdesk", "connected", enabled, TenantSettings(), token, None)


def body(version: int = 1, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "event_type": "customer.created",
            "tenant_id": "acme",
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "version": version,
            "data": {
                "id": "c-1",
                "kind": "person",
                "first_name": "Erika",
                "last_name": "Musterfrau",
                "email": "erika@example.org",
                "address": {"street": "Ringstr. 5", "zip": "80331", "city": "München", "country": "DE"},
            },
        }
    ).encode()


def product_body() -> bytes:
    """A valid event of a type the processor under test has no handler for."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "product.created",
            "tenant_id": "acme",
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "version": 1,
            "data": product(),
        }
    ).encode()


def event_id_of(raw: bytes) -> uuid.UUID:
    return uuid.UUID(json.loads(raw)["event_id"])


class Setup:
    def __init__(self, sevdesk: FakeSevdesk, store: FakeEventStore, tenant_concurrency: int = 1) -> None:
        self.sevdesk, self.store = sevdesk, store
        self.flushed: list[OutboxMessage] = []
        self.throttle = Throttle(concurrency=4, tenant_concurrency=tenant_concurrency)
        self.processor = Processor(
            store=store,
            client=sevdesk,
            cipher=CIPHER,
            flush_outbox=self._flush,
            max_body_bytes=100_000,
            schedule=SCHEDULE,
            handlers={"customer.created": CUSTOMER_HANDLER},
            throttle=self.throttle,
        )

    async def _flush(self, messages: Sequence[OutboxMessage]) -> None:
        self.flushed += messages


@pytest.fixture
def store() -> FakeEventStore:
    return FakeEventStore(tenants={"acme": tenant()})


@pytest.fixture
def setup(store: FakeEventStore) -> Setup:
    return Setup(FakeSevdesk(), store)


def routing_keys(messages: list[OutboxMessage]) -> list[str]:
    return [m.routing_key for m in messages]


async def test_success_is_recorded_acked_and_told_to_the_crm(setup: Setup, store: FakeEventStore) -> None:
    raw = body()
    decision = await setup.processor.process(raw)
    assert decision == Decision(Disposition.ACK, None, "customer.created")
    assert store.outcomes_of(event_id_of(raw)) == [("succeeded", None, 1)]
    assert event_id_of(raw) in store.inbox
    assert routing_keys(store.outbox) == routing_keys(setup.flushed) == ["sync.succeeded"]
    assert store.outcomes[0].api_calls == 1
    assert store.locks_taken == [entity_lock_key("acme", "customer", "c-1")]


async def test_a_redelivery_of_an_applied_event_is_a_duplicate(setup: Setup, store: FakeEventStore) -> None:
    raw = body()
    await setup.processor.process(raw)
    decision = await setup.processor.process(raw)
    assert decision.disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("succeeded", None, 1), ("skipped", "duplicate", 0)]
    assert setup.sevdesk.calls == 1
    assert routing_keys(setup.flushed) == ["sync.succeeded"]


async def test_an_older_version_than_the_applied_one_is_stale(setup: Setup, store: FakeEventStore) -> None:
    store.entity_store_of("acme").write_link(LinkWrite("customer", "c-1", "Contact", "77", "K-1", 3))
    raw = body(version=2)
    assert (await setup.processor.process(raw)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("skipped", "stale", 1)]
    assert setup.sevdesk.calls == 0


async def test_a_disabled_tenant_skips_and_keeps_the_body(store: FakeEventStore) -> None:
    store.tenants["acme"] = tenant(enabled=False)
    setup = Setup(FakeSevdesk(), store)
    raw = body()
    assert (await setup.processor.process(raw)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("skipped", "disabled", 1)]
    assert [kept.body for kept in store.kept] == [raw]
    assert setup.sevdesk.calls == 0


async def test_a_transient_failure_retries_on_the_first_step(store: FakeEventStore) -> None:
    setup = Setup(
        FakeSevdesk(TransientError("sevDesk is unreachable", method="POST", path="/Contact")), store
    )
    raw = body()
    decision = await setup.processor.process(raw)
    assert decision == Decision(Disposition.RETRY, 0, "customer.created")
    assert store.outcomes_of(event_id_of(raw)) == [("retrying", "sevdesk_unavailable", 1)]
    assert store.outcomes[0].api_calls == 1
    assert event_id_of(raw) not in store.inbox
    assert setup.flushed == []  # a retry is not news for the CRM


async def test_a_transient_failure_with_the_ladder_spent_is_dead(store: FakeEventStore) -> None:
    setup = Setup(
        FakeSevdesk(TransientError("sevDesk is unreachable", method="POST", path="/Contact")), store
    )
    raw = body()
    decision = await setup.processor.process(raw, retries=len(SCHEDULE.delays))
    assert decision == Decision(Disposition.ACK, None, "customer.created")
    assert store.outcomes_of(event_id_of(raw)) == [("dead", "retries_exhausted", 1)]
    assert [(d.reason, d.body) for d in store.dead_letters] == [("retries_exhausted", raw)]
    assert routing_keys(setup.flushed) == ["sync.failed"]


async def test_a_sync_failure_fails_with_a_dead_letter(store: FakeEventStore) -> None:
    setup = Setup(FakeSevdesk(SyncFailure("invalid_data", "the customer has no name")), store)
    raw = body()
    assert (await setup.processor.process(raw)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("failed", "invalid_data", 1)]
    assert [(d.reason, d.error) for d in store.dead_letters] == [("invalid_data", "the customer has no name")]
    assert routing_keys(setup.flushed) == ["sync.failed"]


async def test_a_refused_token_parks_the_event_and_the_tenant(store: FakeEventStore) -> None:
    setup = Setup(FakeSevdesk(AuthError("token refused", status=401, method="POST", path="/Contact")), store)
    raw = body()
    assert (await setup.processor.process(raw)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("parked", "auth_failed", 1)]
    assert store.parked == [raw]
    assert store.tenants["acme"].status == "auth_failed"
    # The tenant's next event parks without asking sevDesk.
    following = body(version=2)
    await setup.processor.process(following)
    assert store.outcomes_of(event_id_of(following)) == [("parked", "auth_failed", 1)]
    assert setup.sevdesk.calls == 1


async def test_a_malformed_body_is_dead_lettered_and_acked(setup: Setup, store: FakeEventStore) -> None:
    decision = await setup.processor.process(b"{not json")
    assert decision == Decision(Disposition.ACK, None, MALFORMED_TYPE)
    assert [(d.reason, d.body) for d in store.dead_letters] == [("malformed", b"{not json")]
    assert store.outcomes == []
    assert store.outbox == setup.flushed == []  # no tenant to tell


async def test_a_tenant_holding_its_share_is_deferred(setup: Setup, store: FakeEventStore) -> None:
    async with AsyncExitStack() as held:
        # One running and one waiting per slot: the tenant's share of this worker is taken.
        for _ in range(2):
            assert await held.enter_async_context(setup.throttle.hold("acme")) is not None
        first = await setup.processor.process(body())
        again = await setup.processor.process(body(), deferrals=1)
    assert first == Decision(Disposition.DEFER, 0, "customer.created")
    assert again == Decision(Disposition.DEFER, 1, "customer.created")
    assert store.outcomes == []


async def test_a_version_older_than_one_applied_here_is_stale(setup: Setup, store: FakeEventStore) -> None:
    await setup.processor.process(body(version=2))
    older = body(version=1)
    assert (await setup.processor.process(older)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(older)) == [("skipped", "stale", 1)]
    assert setup.sevdesk.calls == 1


async def test_a_success_ends_the_write_intents_of_its_entity(setup: Setup, store: FakeEventStore) -> None:
    await setup.processor.process(body())
    assert store.entity_store_of("acme").intents == {}


async def test_a_failure_settles_the_write_intents_of_its_entity(store: FakeEventStore) -> None:
    setup = Setup(FakeSevdesk(SyncFailure("invalid_data", "the customer has no name")), store)
    await setup.processor.process(body())
    assert [intent.settled for intent in store.entity_store_of("acme").intents.values()] == [True]


async def test_a_token_no_key_decrypts_fails_as_not_connected(store: FakeEventStore) -> None:
    store.tenants["acme"] = tenant(cipher=TokenCipher(Fernet.generate_key().decode()))
    setup = Setup(FakeSevdesk(), store)
    raw = body()
    assert (await setup.processor.process(raw)).disposition is Disposition.ACK
    assert store.outcomes_of(event_id_of(raw)) == [("failed", "not_connected", 1)]
    assert store.outcomes[0].api_calls == 0
    assert [(d.reason, d.body) for d in store.dead_letters] == [("not_connected", raw)]
    assert routing_keys(setup.flushed) == ["sync.failed"]
    assert setup.sevdesk.calls == 0


async def test_a_skipped_replay_reopens_a_skip_that_depended_on_the_tenant(store: FakeEventStore) -> None:
    store.tenants["acme"] = tenant(enabled=False)
    setup = Setup(FakeSevdesk(), store)
    raw = body()
    await setup.processor.process(raw)
    store.tenants["acme"] = tenant()
    await setup.processor.process(raw)  # not a replay: the skip stands
    decision = await setup.processor.process(raw, skipped_replay=True)
    assert decision == Decision(Disposition.ACK, None, "customer.created")
    assert store.outcomes_of(event_id_of(raw)) == [
        ("skipped", "disabled", 1),
        ("skipped", "duplicate", 0),
        ("succeeded", None, 2),
    ]
    assert setup.sevdesk.calls == 1


async def test_a_skipped_replay_of_an_applied_event_is_a_duplicate(
    setup: Setup, store: FakeEventStore
) -> None:
    raw = body()
    await setup.processor.process(raw)
    await setup.processor.process(raw, skipped_replay=True)
    assert store.outcomes_of(event_id_of(raw)) == [("succeeded", None, 1), ("skipped", "duplicate", 0)]
    assert setup.sevdesk.calls == 1


async def test_an_event_the_broker_gave_up_on_is_recorded_dead(setup: Setup, store: FakeEventStore) -> None:
    raw = body()
    await setup.processor.record_delivery_limit(raw, 11)
    assert store.outcomes_of(event_id_of(raw)) == [("dead", "delivery_limit", 11)]
    assert [(d.reason, d.body, d.attempts) for d in store.dead_letters] == [("delivery_limit", raw, 11)]
    assert routing_keys(setup.flushed) == ["sync.failed"]
    assert setup.sevdesk.calls == 0


async def test_an_unhandled_type_the_broker_gave_up_on_is_a_dead_letter_only(
    setup: Setup, store: FakeEventStore
) -> None:
    raw = product_body()
    await setup.processor.record_delivery_limit(raw, None)
    assert [(d.reason, d.event_type, d.attempts) for d in store.dead_letters] == [
        ("delivery_limit", "product.created", 1)
    ]
    assert store.outcomes == []
    assert store.outbox == setup.flushed == []


async def test_an_event_type_without_a_handler_is_dead_lettered_and_acked(
    setup: Setup, store: FakeEventStore
) -> None:
    raw = product_body()
    decision = await setup.processor.process(raw)
    assert decision == Decision(Disposition.ACK, None, UNKNOWN_TYPE)
    assert [(d.reason, d.event_type, d.body) for d in store.dead_letters] == [
        ("unknown_event_type", "product.created", raw)
    ]
    assert store.outcomes == []
    assert routing_keys(store.outbox) == routing_keys(setup.flushed) == ["sync.failed"]


async def test_a_version_with_a_newer_one_waiting_is_superseded(store: FakeEventStore) -> None:
    sevdesk = FakeSevdesk()
    sevdesk.hold = asyncio.Event()
    # Room for three deliveries of the tenant: one running, two waiting for the entity's lock.
    setup = Setup(sevdesk, store, tenant_concurrency=2)
    first, older, newer = body(version=1), body(version=2), body(version=3)
    tasks = [asyncio.create_task(setup.processor.process(raw)) for raw in (first, older, newer)]
    for _ in range(100):
        if sevdesk.calls == 1 and setup.throttle.held("acme") == 3:
            break
        await asyncio.sleep(0)
    sevdesk.hold.set()
    await asyncio.gather(*tasks)
    assert store.outcomes_of(event_id_of(first)) == [("succeeded", None, 1)]
    assert store.outcomes_of(event_id_of(older)) == [("skipped", "superseded", 1)]
    assert store.outcomes_of(event_id_of(newer)) == [("succeeded", None, 1)]
    assert sevdesk.calls == 2
