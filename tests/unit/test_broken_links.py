"""Broken links (CONTRACT section 10): the one check in SyncContext and the words an operator reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sevsync.outcome_words import LINK_BROKEN
from sevsync.store.links import Link, LinkWrite
from sevsync.sync.broken_links import broken_failure, is_of_kind, number_of
from sevsync.sync.customers import skip_deleted_customer
from sevsync.sync.products import sync_product
from sevsync.sync.result import SyncFailure
from sevsync_events.envelope import Envelope
from sevsync_events.payloads import EntityRef, Product

from .. import samples
from .fakes import FakeSevdeskApi, InMemoryEntityStore, fake_context

BROKEN_AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _broken(store: InMemoryEntityStore, entity_type: str, entity_id: str, sevdesk_object: str) -> None:
    store.write_link(LinkWrite(entity_type, entity_id, sevdesk_object, "41", "N-1", 2, "old-hash"))
    store.break_link(entity_type, entity_id, BROKEN_AT, "deleted_in_sevdesk")


def test_the_failure_names_the_object_its_id_and_both_commands() -> None:
    link = Link("acme", "product", "prod-7", "Part", "41", "SKU-7", 2, None, {}, broken_at=BROKEN_AT)
    failure = broken_failure("acme", link)
    assert (failure.reason, failure.sevdesk_object) == (LINK_BROKEN, "Part")
    assert "sevDesk Part 41" in failure.message
    assert "since 2026-03-01 12:30 UTC" in failure.message
    assert "`sevsync link relink acme product prod-7 --sevdesk-id ID`" in failure.message
    assert "`sevsync link clear acme product prod-7`" in failure.message


def test_the_time_is_told_in_utc_whatever_zone_it_was_read_in() -> None:
    berlin = BROKEN_AT.astimezone(timezone(timedelta(hours=1)))
    link = Link("acme", "customer", "c-1", "Contact", "9", None, 1, None, {}, broken_at=berlin)
    assert "since 2026-03-01 12:30 UTC" in broken_failure("acme", link).message


def test_a_relinked_object_must_be_of_the_links_kind_and_lends_its_number() -> None:
    assert is_of_kind("Contact", {"objectName": "Contact"})
    assert not is_of_kind("Contact", {"objectName": "Part"})
    assert number_of("Part", {"partNumber": "SKU-9"}) == "SKU-9"
    assert number_of("Voucher", {"description": "RE-2"}) == "RE-2"
    assert number_of("Contact", {"customerNumber": ""}) is None


async def test_a_write_through_a_broken_link_fails_before_any_sevdesk_call() -> None:
    store, api = InMemoryEntityStore(), FakeSevdeskApi()
    _broken(store, "product", "prod-7", "Part")
    event = Envelope[Product].new("product.updated", "acme", 3, Product.model_validate(samples.product()))
    with pytest.raises(SyncFailure) as raised:
        await sync_product(fake_context(store, api), event)
    assert raised.value.reason == LINK_BROKEN
    assert api.operations() == []


async def test_a_healthy_link_of_another_entity_is_read_as_before() -> None:
    store, api = InMemoryEntityStore(), FakeSevdeskApi()
    _broken(store, "product", "prod-8", "Part")
    store.write_link(LinkWrite("product", "prod-7", "Part", "42", "SKU-7", 2, "h"))
    ctx = fake_context(store, api)
    assert (await ctx.links_of("product", ["prod-7"]))["prod-7"].sevdesk_id == "42"
    with pytest.raises(SyncFailure):
        await ctx.links_of("product", ["prod-7", "prod-8"])


async def test_a_deleted_customer_is_still_skipped_as_sevdesk_leads() -> None:
    store, api = InMemoryEntityStore(), FakeSevdeskApi()
    _broken(store, "customer", "cust-1", "Contact")
    event = Envelope[EntityRef].new("customer.deleted", "acme", 4, EntityRef(id="cust-1"))
    result = await skip_deleted_customer(fake_context(store, api), event)
    assert (result.status, result.reason, result.sevdesk_id) == ("skipped", "sevdesk_leads", "41")
