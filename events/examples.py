"""One complete, realistic example of every message on the broker, as the body it travels as.

Inbound examples are what a CRM publishes on the inbound exchange; outbound ones are what sevsync
publishes on `sevsync.out`. Each is the whole JSON body (envelope and `data`), with every field the
model knows written out, so a reader sees the full shape. They tell one story (tenant `acme`): a
customer and a product are created, a deal is offered and won, the CRM issues and cancels an
invoice, and payments arrive; the outbound ones answer it.

Pure data: the AsyncAPI document and the docs show them, and the tests check each against the very
parser and models the worker uses, so an example cannot drift from what is accepted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "EXAMPLE_TENANT",
    "INBOUND_EXAMPLES",
    "OUTBOUND_EXAMPLES",
    "UnknownExample",
    "example",
    "example_body",
]

EXAMPLE_TENANT: Final = "acme"


class UnknownExample(KeyError):
    """No example exists for this event type (it is not one the contract has)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _event(event_id: str, event_type: str, occurred_at: str, version: int, data: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "tenant_id": EXAMPLE_TENANT,
        "occurred_at": occurred_at,
        "version": version,
        "data": data,
    }


# --- the CRM's records ----------------------------------------------------------------------------

_ADDRESS: Final = {"street": "Speicherstr. 12", "zip": "20457", "city": "Hamburg", "country": "DE"}

_CUSTOMER: Final = {
    "id": "cust-3107",
    "kind": "company",
    "company_name": "Elbwerk Maschinenbau GmbH",
    "first_name": "Jana",
    "last_name": "Petersen",
    "customer_number": "K-3107",
    "email": "buchhaltung@elbwerk.example",
    "phone": "+49 40 5550123",
    "address": _ADDRESS,
    "vat_id": "DE298765432",
    "tax_number": None,
    "sevdesk_id": None,
    "buyer_reference": None,
    "e_invoice": None,
}

_PRODUCT: Final = {
    "id": "prod-88",
    "sku": "WS-88",
    "name": "Maintenance workshop",
    "description": "One day on site, up to eight participants",
    "net_price": "950.00",
    "tax_rate": "19",
    "unit": "day",
    "active": True,
    "sevdesk_id": None,
}

_DEAL: Final = {
    "id": "deal-561",
    "number": "D-2026-0561",
    "title": "Maintenance training, spring",
    "customer": _CUSTOMER,
    "currency": "EUR",
    "date": "2026-03-02",
    "lines": [
        {
            "product_id": "prod-88",
            "name": "Maintenance workshop",
            "description": "Two days, on site in Hamburg",
            "quantity": "2",
            "unit": "day",
            "unit_net_price": "950.00",
            "tax_rate": "19",
            "discount_percent": "5",
        },
        {
            "product_id": None,
            "name": "Printed handbook",
            "description": None,
            "quantity": "8",
            "unit": "piece",
            "unit_net_price": "24.50",
            "tax_rate": "7",
            "discount_percent": None,
        },
    ],
    "discount": {"type": "amount", "value": "100.00"},
    "fees": [{"name": "Travel", "net_amount": "180.00", "tax_rate": "19"}],
    "tax_type": None,
    "payment_method": "bank_transfer",
}

_INVOICE: Final = {
    "id": "inv-2207",
    "number": "2026-2207",
    "customer_number": "K-3107",
    "customer_name": "Elbwerk Maschinenbau GmbH",
    "date": "2026-03-31",
    "delivery_date": "2026-03-31",
    "currency": "EUR",
    "tax_type": "standard",
    "lines": [
        {
            "name": "Support retainer, March",
            "net_amount": "400.00",
            "tax_rate": "19",
            "accounting_code": "8400",
        },
        {"name": "Goodwill credit", "net_amount": "-50.00", "tax_rate": "19", "accounting_code": "8400"},
    ],
    "payment_method": "bank_transfer",
    "document": None,
}

# --- inbound: what the CRM publishes --------------------------------------------------------------

INBOUND_EXAMPLES: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "customer.created": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c11", "customer.created", "2026-03-01T08:30:00Z", 1, _CUSTOMER
        ),
        "customer.updated": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c12",
            "customer.updated",
            "2026-03-05T14:02:10Z",
            2,
            {**_CUSTOMER, "phone": "+49 40 5550199"},
        ),
        "customer.deleted": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c13",
            "customer.deleted",
            "2026-09-30T16:45:00Z",
            3,
            {"id": "cust-3107"},
        ),
        "product.created": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c21", "product.created", "2026-03-01T08:31:00Z", 1, _PRODUCT
        ),
        "product.updated": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c22",
            "product.updated",
            "2026-06-01T07:00:00Z",
            2,
            {**_PRODUCT, "net_price": "990.00"},
        ),
        "deal.opened": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c31",
            "deal.opened",
            "2026-03-02T09:15:00Z",
            1,
            {**_DEAL, "title": "Maintenance training"},
        ),
        "deal.updated": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c32", "deal.updated", "2026-03-03T11:20:00Z", 2, _DEAL
        ),
        "deal.won": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c33",
            "deal.won",
            "2026-03-10T10:00:00Z",
            3,
            {**_DEAL, "date": "2026-03-10"},
        ),
        "deal.lost": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c34",
            "deal.lost",
            "2026-04-20T15:30:00Z",
            2,
            {"id": "deal-562", "reason": "Budget moved to next year"},
        ),
        "deal.cancelled": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c35",
            "deal.cancelled",
            "2026-05-04T09:05:00Z",
            4,
            {"id": "deal-563", "reason": "Customer withdrew the order"},
        ),
        "invoice.issued": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c41", "invoice.issued", "2026-03-31T17:00:00Z", 1, _INVOICE
        ),
        "invoice.cancelled": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c42",
            "invoice.cancelled",
            "2026-04-02T08:10:00Z",
            2,
            {"id": "inv-2207", "number": "ST-2026-2207", "date": "2026-04-02", "reason": "Billed twice"},
        ),
        "payment.received": _event(
            "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c51",
            "payment.received",
            "2026-03-24T12:00:00Z",
            1,
            {
                "id": "pay-9904",
                "invoice_id": None,
                "deal_id": "deal-561",
                "amount": "2453.95",
                "date": "2026-03-24",
                "payment_method": "bank_transfer",
                "reference": "D-2026-0561",
            },
        ),
    }
)

# --- outbound: what sevsync publishes on sevsync.out ----------------------------------------------


def _sync_result(status: str, source: str, source_type: str, entity: str, **outcome: Any) -> dict[str, Any]:
    entity_type, _, entity_id = entity.partition(":")
    fields: dict[str, Any] = {"reason": None, "sevdesk_object": None, "sevdesk_id": None}
    fields |= {"sevdesk_number": None, "error": None} | outcome
    return {
        "source_event_id": source,
        "source_event_type": source_type,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "status": status,
        **fields,
    }


def _sevdesk_customer(sevdesk_id: str) -> dict[str, Any]:
    return {**_CUSTOMER, "sevdesk_id": sevdesk_id}


OUTBOUND_EXAMPLES: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "sync.succeeded": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c01",
            "sync.succeeded",
            "2026-03-10T10:00:02.418305Z",
            3,
            _sync_result(
                "succeeded",
                "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c33",
                "deal.won",
                "deal:deal-561",
                sevdesk_object="Invoice",
                sevdesk_id="104233",
                sevdesk_number="RE-1042",
            ),
        ),
        "sync.skipped": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c02",
            "sync.skipped",
            "2026-09-30T16:45:01.120774Z",
            3,
            _sync_result(
                "skipped",
                "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c13",
                "customer.deleted",
                "customer:cust-3107",
                reason="sevdesk_leads",
                sevdesk_object="Contact",
                sevdesk_id="88120",
                sevdesk_number="K-3107",
            ),
        ),
        "sync.failed": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c03",
            "sync.failed",
            "2026-03-31T17:00:03.007112Z",
            1,
            _sync_result(
                "failed",
                "5f0c2a1e-8b3d-4c6a-9e71-2d4f6a8b0c41",
                "invoice.issued",
                "invoice:inv-2207",
                reason="unknown_booking_account",
                error="invoice 2026-2207: accounting code 8400 names no revenue booking account in sevDesk",
            ),
        ),
        "customer.linked": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c04",
            "customer.linked",
            "2026-03-01T08:30:01.530261Z",
            1,
            {"customer_id": "cust-3107", "sevdesk_contact_id": "88120", "customer_number": "K-3107"},
        ),
        "contact.imported": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c05",
            "contact.imported",
            "2026-02-27T13:00:00Z",
            0,
            {
                **_CUSTOMER,
                "id": None,
                "company_name": "Hafenblick Logistik KG",
                "first_name": None,
                "last_name": None,
                "customer_number": "1017",
                "email": "info@hafenblick.example",
                "phone": None,
                "address": {"street": "Am Kai 3", "zip": "28195", "city": "Bremen", "country": "DE"},
                "vat_id": None,
                "sevdesk_id": "87001",
            },
        ),
        "part.imported": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c06",
            "part.imported",
            "2026-02-27T13:00:05Z",
            0,
            {
                **_PRODUCT,
                "id": None,
                "sku": "ERS-12",
                "name": "Spare parts kit",
                "description": None,
                "net_price": "129.00",
                "unit": "piece",
                "sevdesk_id": "5521",
            },
        ),
        "contact.changed": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c07",
            "contact.changed",
            "2026-04-15T06:05:00Z",
            1,
            {**_sevdesk_customer("88120"), "email": "rechnungen@elbwerk.example"},
        ),
        "part.changed": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c08",
            "part.changed",
            "2026-04-15T06:05:01Z",
            1,
            {**_PRODUCT, "net_price": "975.00", "sevdesk_id": "5530"},
        ),
        "document.status_changed": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c09",
            "document.status_changed",
            "2026-03-20T06:05:00Z",
            2,
            {
                "entity_type": "deal_invoice",
                "entity_id": "deal-561",
                "sevdesk_object": "Invoice",
                "sevdesk_id": "104233",
                "status": "partially_paid",
                "paid_amount": "1000.00",
                "open_amount": "1453.95",
                "changed_at": "2026-03-19T16:22:41+01:00",
            },
        ),
        "link.broken": _event(
            "9a4e6c2b-1d3f-4a5b-8c7d-0e1f2a3b4c10",
            "link.broken",
            "2026-05-11T06:05:00Z",
            3,
            {
                "entity_type": "product",
                "entity_id": "prod-88",
                "sevdesk_object": "Part",
                "sevdesk_id": "5530",
                "reason": "deleted_in_sevdesk",
            },
        ),
    }
)


def example(event_type: str) -> dict[str, Any]:
    """The example message of `event_type` (a copy, yours to change)."""
    found = INBOUND_EXAMPLES.get(event_type) or OUTBOUND_EXAMPLES.get(event_type)
    if found is None:
        known = ", ".join((*INBOUND_EXAMPLES, *OUTBOUND_EXAMPLES))
        raise UnknownExample(f"no example for event type '{event_type}'; there are: {known}")
    return copy.deepcopy(dict(found))


def example_body(event_type: str) -> bytes:
    """The example as the compact UTF-8 JSON body a message carries."""
    return json.dumps(example(event_type), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
