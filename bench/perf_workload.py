"""The events `make bench` publishes, and the fewest sevDesk writes each one needs.

Minimum writes (the "minimum" the calls per event are compared with): the number of sevDesk objects
an event creates or changes, compared with the previous version of the same entity, as if a perfect
worker knew sevDesk's state without reading it. A customer is up to five objects (the contact, for a
company its contact person, the address, the e-mail and the phone entry): a new company with all of
them is 5 writes, an update that changes only the e-mail is 1, an update that changes nothing is 0.
A product is one object (1 if anything changed). deal.opened writes one offer and deal.won one
invoice, each with its positions in one factory call: 1. Every version of a burst counts: a worker
that coalesced a burst could need even less.

Contract rounds (what bounds a worker's events/s at a given latency per call): the sevDesk requests
an event needs one after another, each waiting for the answer of the one before, counting only what
the contract requires of any worker, never what sevsync happens to do:
- a create under a key the CRM owns (customer number, SKU, deal number) first looks the key up: an
  object holding it is that entity (CONTRACT 8);
- without a customer number, sevDesk's next number is fetched and checked free before the create
  (CONTRACT 3 and 8; docs/architecture.md);
- a new contact's address, e-mail, phone and person need the contact's id: one more round, side by
  side;
- a created offer or invoice is read back to compare its totals to the cent (CONTRACT 5); the
  invoice's own marker is counted as needing no look-up before its first create;
- an update that changes something is one round, one that changes nothing none; as with the minimum
  writes, every version of a burst counts.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Data = dict[str, Any]
CUSTOMER_PARTS = ("contact", "person", "address", "email", "phone")


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    tenant: str
    kind: str  # customer, product, deal: the CRM entity type
    entity_id: str
    version: int
    min_writes: int
    contract_rounds: int
    body: bytes

    @property
    def entity(self) -> tuple[str, str, str]:
        return (self.tenant, self.kind, self.entity_id)


def customer_parts(data: Data) -> dict[str, str | None]:
    """The sevDesk objects of a customer, each as a comparable text (None: the object is not needed)."""
    company = data["kind"] == "company"
    name = data.get("company_name") if company else [data.get("first_name"), data.get("last_name")]
    contact = [data["kind"], name, data.get("customer_number"), data.get("vat_id"), data.get("tax_number")]
    person = None
    if company and (data.get("first_name") or data.get("last_name")):
        person = json.dumps([data.get("first_name"), data.get("last_name")])
    address = data.get("address")
    return {
        "contact": json.dumps(contact),
        "person": person,
        "address": json.dumps(address, sort_keys=True) if address else None,
        "email": data.get("email"),
        "phone": data.get("phone"),
    }


def customer_writes(old: Data | None, new: Data) -> int:
    before = customer_parts(old) if old is not None else {}
    after = customer_parts(new)
    return sum(1 for part in CUSTOMER_PARTS if after[part] is not None and after[part] != before.get(part))


def product_writes(old: Data | None, new: Data) -> int:
    return 0 if old == new else 1


# Rounds of a deal's document: look up the deal number (offer only), create, read back.
DOCUMENT_ROUNDS = {"deal.opened": 3, "deal.won": 2}


def contract_rounds(event_type: str, new: Data, writes: int) -> int:
    """The sevDesk requests `event_type` needs one after another under the contract (module docstring)."""
    if event_type in DOCUMENT_ROUNDS:
        return DOCUMENT_ROUNDS[event_type]
    if event_type == "product.created":
        return 2  # look up the SKU, create
    if event_type == "customer.created":
        parts = customer_parts(new)
        number = 1 if new.get("customer_number") else 2  # look it up; or fetch the next and check it
        side_by_side = any(parts[part] is not None for part in CUSTOMER_PARTS if part != "contact")
        return number + 1 + (1 if side_by_side else 0)
    return 1 if writes else 0


class Builder:
    """Builds events with growing versions per entity; ids are drawn from `rng` (reproducible)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state: dict[tuple[str, str, str], Data] = {}
        self.versions: dict[tuple[str, str, str], int] = {}
        self._occurred_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def event(self, event_type: str, tenant: str, data: Data) -> Event:
        kind = event_type.split(".", 1)[0]
        key = (tenant, kind, str(data["id"]))
        version = self.versions[key] = self.versions.get(key, 0) + 1
        old = self.state.get(key)
        if kind == "customer":
            writes = customer_writes(old, data)
        elif kind == "product":
            writes = product_writes(old, data)
        else:
            writes = 1
        self.state[key] = json.loads(json.dumps(data))
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        envelope = {
            "event_id": event_id,
            "event_type": event_type,
            "tenant_id": tenant,
            "occurred_at": self._occurred_at,
            "version": version,
            "data": data,
        }
        return Event(
            event_id,
            event_type,
            tenant,
            kind,
            key[2],
            version,
            writes,
            contract_rounds(event_type, data, writes),
            json.dumps(envelope).encode(),
        )

    def current(self, tenant: str, kind: str, entity_id: str) -> Data:
        return json.loads(json.dumps(self.state[(tenant, kind, entity_id)]))  # type: ignore[no-any-return]


def company(customer_id: str, n: int, number: str | None) -> Data:
    return {
        "id": customer_id,
        "kind": "company",
        "company_name": f"Firma {n} GmbH",
        "first_name": "Max",
        "last_name": f"Muster{n}",
        "customer_number": number,
        "email": f"billing{n}@firma{n}.example",
        "phone": f"+49 30 {1000000 + n}",
        "address": {"street": f"Hauptstr. {n % 200 + 1}", "zip": "10115", "city": "Berlin", "country": "DE"},
        "vat_id": f"DE{100000000 + n}",
        "tax_number": None,
    }


def person(customer_id: str, n: int, number: str | None) -> Data:
    return {
        "id": customer_id,
        "kind": "person",
        "first_name": "Erika",
        "last_name": f"Muster{n}",
        "customer_number": number,
        "email": f"erika{n}@example.org",
        "address": {"street": f"Ringstr. {n % 90 + 1}", "zip": "80331", "city": "München", "country": "DE"},
    }


def product(product_id: str, n: int, price: str) -> Data:
    return {
        "id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Produkt {n}",
        "description": "Beratung",
        "net_price": price,
        "tax_rate": "19",
        "unit": "hour",
        "active": True,
    }


def deal(deal_id: str, number: str, customer: Data, products: Sequence[Data]) -> Data:
    return {
        "id": deal_id,
        "number": number,
        "title": f"Projekt {number}",
        "customer": customer,
        "currency": "EUR",
        "date": "2026-11-20",
        "lines": [
            {
                "product_id": p["id"],
                "name": p["name"],
                "quantity": str(2 + i),
                "unit": "hour",
                "unit_net_price": p["net_price"],
                "tax_rate": "19",
                "discount_percent": "10" if i == 0 else None,
            }
            for i, p in enumerate(products)
        ],
        "discount": {"type": "percent", "value": "5"},
        "fees": [{"name": "Anfahrt", "net_amount": "80.00", "tax_rate": "19"}],
    }


def _price(rng: random.Random) -> str:
    return f"{rng.randrange(1000, 50000) / 100:.2f}"


def tenant_timeline(b: Builder, tenant: str, round_no: int) -> list[list[Event]]:
    """One round of a tenant's CRM activity, as chunks that are published back to back.

    3 customers created (two companies with a contact person, one person without a customer number),
    2 products created; every customer updated twice (e-mail, then street); a burst of 4 phone changes
    to one customer; an update that changes nothing; every product's price changed; an unchanged
    product update; one deal opened with both products, then won. 21 events.
    """
    rng = b.rng
    r = f"r{round_no}"
    seq = int(tenant.rsplit("-", 1)[-1]) * 100 + round_no * 10
    cust = [f"{r}-cust-{i}" for i in range(3)]
    prod = [f"{r}-prod-{i}" for i in range(2)]
    chunks: list[list[Event]] = []
    chunks.append([b.event("customer.created", tenant, company(cust[0], seq, f"K-{r}-0"))])
    chunks.append([b.event("customer.created", tenant, person(cust[1], seq + 1, None))])
    chunks.append([b.event("customer.created", tenant, company(cust[2], seq + 2, f"K-{r}-2"))])
    for i, product_id in enumerate(prod):
        chunks.append([b.event("product.created", tenant, product(product_id, seq + i, _price(rng)))])
    for step in range(2):
        for i, customer_id in enumerate(cust):
            data = b.current(tenant, "customer", customer_id)
            if step == 0:
                data["email"] = f"neu{i}.{seq}@example.org"
            else:
                data["address"]["street"] = f"Neue Str. {rng.randrange(1, 300)}"
            chunks.append([b.event("customer.updated", tenant, data)])
    burst = []
    for k in range(4):
        data = b.current(tenant, "customer", cust[0])
        data["phone"] = f"+49 30 {2000000 + seq * 10 + k}"
        burst.append(b.event("customer.updated", tenant, data))
    chunks.append(burst)
    chunks.append([b.event("customer.updated", tenant, b.current(tenant, "customer", cust[1]))])
    for product_id in prod:
        data = b.current(tenant, "product", product_id)
        data["net_price"] = _price(rng)
        chunks.append([b.event("product.updated", tenant, data)])
    chunks.append([b.event("product.updated", tenant, b.current(tenant, "product", prod[0]))])
    products = [b.current(tenant, "product", p) for p in prod]
    opened = deal(f"{r}-deal-0", f"D-{r}-{seq}", b.current(tenant, "customer", cust[0]), products)
    chunks.append([b.event("deal.opened", tenant, opened)])
    chunks.append([b.event("deal.won", tenant, opened)])
    return chunks


def interleave(timelines: Sequence[list[list[Event]]], rng: random.Random) -> list[Event]:
    """Merge the tenants' timelines: each pass takes one chunk of every tenant, tenants shuffled."""
    order = list(range(len(timelines)))
    cursors = [0] * len(timelines)
    events: list[Event] = []
    while True:
        rng.shuffle(order)
        progressed = False
        for t in order:
            if cursors[t] < len(timelines[t]):
                events += timelines[t][cursors[t]]
                cursors[t] += 1
                progressed = True
        if not progressed:
            return events


def tenant_ids(count: int) -> list[str]:
    return [f"tenant-{i:03d}" for i in range(count)]


def mix_workload(tenants: Sequence[str], rounds: int, seed: int, first_round: int = 0) -> list[Event]:
    """The realistic mix: `rounds` rounds of `tenant_timeline` for every tenant, interleaved.

    Rounds numbered from `first_round` on use entities of their own (a later phase of a run starts
    with new customers rather than old versions of the first phase's).
    """
    rng = random.Random(seed)
    builder = Builder(rng)
    numbers = range(first_round, first_round + rounds)
    timelines = [[chunk for r in numbers for chunk in tenant_timeline(builder, t, r)] for t in tenants]
    return interleave(timelines, rng)


# --- the per-type batches of the cpu scenario ------------------------------------------------------

TYPE_ORDER = (
    "customer.created",
    "customer.updated",
    "product.created",
    "product.updated",
    "deal.opened",
    "deal.won",
)


def type_batches(
    tenants: Sequence[str], per_tenant: int, update_rounds: int, seed: int
) -> dict[str, list[Event]]:
    """One batch per event type, each the prerequisite of the next; published and measured one by one.

    `per_tenant` customers, products and deals per tenant. customer.updated has `update_rounds`
    rounds over all customers, each changing one field (e-mail, then street, then company name, ...).
    """
    rng = random.Random(seed)
    b = Builder(rng)
    batches: dict[str, list[Event]] = {t: [] for t in TYPE_ORDER}
    for n in range(per_tenant):
        for ti, tenant in enumerate(tenants):
            seq = ti * 100 + n
            data = company(f"c-{n}", seq, f"K-{n}")
            batches["customer.created"].append(b.event("customer.created", tenant, data))
            batches["product.created"].append(
                b.event("product.created", tenant, product(f"p-{n}", seq, "100.00"))
            )
    for round_no in range(update_rounds):
        for n in range(per_tenant):
            for tenant in tenants:
                data = b.current(tenant, "customer", f"c-{n}")
                field = round_no % 3
                if field == 0:
                    data["email"] = f"u{round_no}.{n}@{tenant}.example"
                elif field == 1:
                    data["address"]["street"] = f"Weg {round_no}-{n}"
                else:
                    data["company_name"] = f"Firma {n} v{round_no} GmbH"
                batches["customer.updated"].append(b.event("customer.updated", tenant, data))
    for n in range(per_tenant):
        for tenant in tenants:
            data = b.current(tenant, "product", f"p-{n}")
            data["net_price"] = _price(rng)
            batches["product.updated"].append(b.event("product.updated", tenant, data))
    deals: list[tuple[str, Data]] = []
    for n in range(per_tenant):
        for tenant in tenants:
            products = [b.current(tenant, "product", f"p-{k}") for k in {n, (n + 1) % per_tenant}]
            data = deal(f"d-{n}", f"D-{n}", b.current(tenant, "customer", f"c-{n}"), products)
            deals.append((tenant, data))
            batches["deal.opened"].append(b.event("deal.opened", tenant, data))
    for tenant, data in deals:
        batches["deal.won"].append(b.event("deal.won", tenant, data))
    return batches


def backlog_workload(tenants: Sequence[str], events: int, seed: int) -> list[Event]:
    """Many small events over many entities: products created, then price updates, until `events`."""
    rng = random.Random(seed)
    b = Builder(rng)
    out: list[Event] = []
    n = 0
    while len(out) < events:
        for tenant in tenants:
            if len(out) >= events:
                break
            product_id = f"b-{n // 3}"
            if n % 3 == 0:
                out.append(b.event("product.created", tenant, product(product_id, n, _price(rng))))
            else:
                data = b.current(tenant, "product", product_id)
                data["net_price"] = _price(rng)
                out.append(b.event("product.updated", tenant, data))
        n += 1
    return out


def newest_versions(events: Iterable[Event]) -> dict[tuple[str, str, str], int]:
    newest: dict[tuple[str, str, str], int] = {}
    for e in events:
        newest[e.entity] = max(newest.get(e.entity, 0), e.version)
    return newest
