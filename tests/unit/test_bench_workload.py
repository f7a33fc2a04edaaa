"""The bench's workload: the writes and the requests in a row that each event needs (no stack)."""

from __future__ import annotations

import random

from bench.perf_workload import Builder, company, person, tenant_timeline


def test_a_tenants_round_needs_the_requests_in_a_row_the_contract_names() -> None:
    builder = Builder(random.Random(7))
    events = [event for chunk in tenant_timeline(builder, "tenant-001", 0) for event in chunk]

    rounds = [(event.event_type, event.contract_rounds) for event in events]
    assert rounds == [
        ("customer.created", 3),  # look up the CRM's number, create, then its parts side by side
        ("customer.created", 4),  # fetch the next number, check it, create, parts
        ("customer.created", 3),
        ("product.created", 2),  # look up the SKU, create
        ("product.created", 2),
        *[("customer.updated", 1)] * 6,
        *[("customer.updated", 1)] * 4,  # every version of the burst counts
        ("customer.updated", 0),  # changes nothing
        ("product.updated", 1),
        ("product.updated", 1),
        ("product.updated", 0),
        ("deal.opened", 3),  # look up the deal number, create, read back the totals
        ("deal.won", 2),  # create, read back
    ]
    assert sum(event.min_writes for event in events) == 29


def test_a_contact_without_parts_needs_no_round_for_them() -> None:
    builder = Builder(random.Random(7))
    bare = person("c-1", 1, "K-1") | {"email": None, "address": None}
    assert builder.event("customer.created", "t", bare).contract_rounds == 2
    assert builder.event("customer.created", "t", company("c-2", 2, None)).contract_rounds == 4
