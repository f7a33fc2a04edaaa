"""product.created / product.updated on fakes of the store and of sevDesk (sync.products)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sevdesk.errors import AnsweredWriteError, NotFoundError
from sevsync.store.links import LinkWrite
from sevsync.sync.contact_mapping import fingerprint
from sevsync.sync.part_mapping import part_body
from sevsync.sync.products import sync_product
from sevsync.sync.result import SyncFailure
from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Product

from .. import samples
from .fakes import FakeSevdeskApi, InMemoryEntityStore, fake_context


def _event(version: int = 3, **overrides: Any) -> Envelope[Product]:
    data = samples.product(**overrides)
    return Envelope[Product].new("product.updated", "acme", version, Product.model_validate(data))


def _link_to(part_id: str, payload_hash: str) -> LinkWrite:
    return LinkWrite("product", "prod-7", "Part", part_id, "SKU-7", 2, payload_hash)


@pytest.fixture
def store() -> InMemoryEntityStore:
    return InMemoryEntityStore()


@pytest.fixture
def api() -> FakeSevdeskApi:
    return FakeSevdeskApi()


async def test_an_unlinked_product_is_created_once_under_its_intent(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    event = _event()

    result = await sync_product(fake_context(store, api), event)

    assert api.operations() == ["find_parts_by_number", "create_part"]
    [part] = api.parts.values()
    assert (part["partNumber"], part["stock"]) == ("SKU-7", 0)
    assert (result.status, result.sevdesk_object, result.sevdesk_id) == ("succeeded", "Part", part["id"])
    [link] = result.links
    assert (link.sevdesk_id, link.synced_version) == (part["id"], 3)
    assert link.payload_hash == fingerprint(part_body(event.data, {}))
    # The intent stays until the outcome commits the link (which ends it).
    assert store.intents[("product", "prod-7", "Part")].business_key == "SKU-7"


async def test_a_linked_product_that_changed_updates_its_part(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.parts["55"] = {"id": "55", "partNumber": "SKU-7", "price": "100"}
    store.write_link(_link_to("55", "an older hash"))

    result = await sync_product(fake_context(store, api), _event(net_price="135.50"))

    assert api.operations() == ["update_part"]
    assert api.parts["55"]["priceNet"] == "135.5"
    assert (result.status, result.reason, result.sevdesk_id) == ("succeeded", None, "55")
    assert result.links[0].payload_hash != "an older hash"
    assert store.intents == {}


async def test_an_unchanged_product_makes_no_call(store: InMemoryEntityStore, api: FakeSevdeskApi) -> None:
    event = _event(version=4)
    store.write_link(_link_to("55", fingerprint(part_body(event.data, {}))))

    result = await sync_product(fake_context(store, api), event)

    assert api.calls == []
    assert (result.status, result.reason, result.sevdesk_id) == ("skipped", "no_change", "55")
    assert result.links[0].synced_version == 4


async def test_a_linked_part_deleted_in_sevdesk_breaks_the_link_and_fails_the_event(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    store.write_link(_link_to("55", "an older hash"))
    api.fail_next["update_part"] = [NotFoundError("no such part", method="PUT", path="/Part/55", status=404)]

    with pytest.raises(SyncFailure) as failure:
        await sync_product(fake_context(store, api), _event())

    assert (failure.value.reason, failure.value.sevdesk_object) == ("link_broken", "Part")
    assert api.parts == {}
    broken = await store.link("product", "prod-7")
    assert broken is not None
    assert (broken.broken_at is not None, broken.broken_reason) == (True, "deleted_in_sevdesk")


async def test_a_create_answered_500_is_looked_for_then_written_again(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.fail_next["create_part"] = [
        AnsweredWriteError("server error", method="POST", path="/Part", status=500, retry_after=0.0)
    ]

    result = await sync_product(fake_context(store, api), _event())

    assert api.operations() == ["find_parts_by_number", "create_part", "find_parts_by_number", "create_part"]
    [part] = api.parts.values()
    assert (result.status, result.sevdesk_id) == ("succeeded", part["id"])
    # Written again: a later attempt's settle window counts from the second send.
    intent = store.intents[("product", "prod-7", "Part")]
    assert (intent.business_key, intent.settled) == ("SKU-7", False)


async def test_a_create_answered_500_that_landed_is_adopted_not_written_again(
    store: InMemoryEntityStore, api: FakeSevdeskApi
) -> None:
    api.lose_answer["create_part"] = [
        AnsweredWriteError("server error", method="POST", path="/Part", status=500, retry_after=0.0)
    ]

    result = await sync_product(fake_context(store, api), _event())

    assert api.operations() == ["find_parts_by_number", "create_part", "find_parts_by_number"]
    [part] = api.parts.values()
    assert (result.status, result.sevdesk_id) == ("succeeded", part["id"])
    # sevDesk answered: nothing of the create is in flight any more.
    assert store.intents[("product", "prod-7", "Part")].settled
