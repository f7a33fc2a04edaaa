"""The processor on fakes: an in-memory event store and a scripted sevDesk behind a fake handler.

Each test sends one delivery's body (and the facts the broker read from its headers) and checks the
decision handed back to the broker and the records the store was given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sevsync.disposition import MALFORMED_TYPE, Decision, Disposition
from sevsync.retry_schedule import RetrySchedule
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.errors import AuthError, TransientError
from sevsync.sevdesk.token import ApiToken
from sevsync.store.links import Link
from sevsync.store.outbox import OutboxMessage
from sevsync.store.tenants import TenantRecord
from sevsync.sync.context import SyncContext
from sevsync.sync.handlers import Handler
from sevsync.sync.locks import entity_lock_key
from sevsync.sync.processor import Processor
from sevsync.sync.result import HandlerResult, SyncFailure
from sevsync.sync.throttle import Throttle
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.settings import TenantSettings
from sevsync_events.envelope import Envelope

from .fake_event_store import FakeEventStore

SCHEDULE = RetrySchedule((timedelta(seconds=10), timedelta(minutes=1)))
CIPHER = TokenCipher(Fernet.generate_key().decode())


class FakeSevdesk:
    """sevDesk as the fake handler sees it: each call answers with the next scripted failure, or an id."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def save_contact(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "77"


def customer_handler(sevdesk: FakeSevdesk) -> Handler:
    async def sync(ctx: SyncContext, event: Envelope[Any]) -> HandlerResult:
        return HandlerResult("succeeded", None, "Contact", await sevdesk.save_contact())

    return Handler(entity_type="customer", run=sync, link_types=("customer",))


def tenant(enabled: bool = True) -> TenantRecord:
    token = CIPHER.encrypt(ApiToken("token-of-acme"))
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


def event_id_of(raw: bytes) -> uuid.UUID:
    return uuid.UUID(json.loads(raw)["event_id"])


class Setup:
    def __init__(self, sevdesk: FakeSevdesk, store: FakeEventStore) -> None:
        self.sevdesk, self.store = sevdesk, store
        self.flushed: list[OutboxMessage] = []
        self.throttle = Throttle(concurrency=4, tenant_concurrency=1)
        self.processor = Processor(
            store=store,
            client=SevdeskClient("http://sevdesk.invalid"),  # never called: the handler is a fake
            cipher=CIPHER,
            flush_outbox=self._flush,
            max_body_bytes=100_000,
            schedule=SCHEDULE,
            handlers={"customer.created": customer_handler(sevdesk)},
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
    assert store.outcomes[0].api_calls == 0  # the fake answers without HTTP calls
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
    store.links.append(Link("acme", "customer", "c-1", "Contact", "77", "K-1", 3, None, {}))
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
