"""The CRM records the tests send: one sample of each payload, changed per test through `overrides`.

Plain data, no I/O, so that unit and integration tests share the same customers and products.
"""

from __future__ import annotations

from typing import Any


def company(customer_id: str = "cust-1001", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": customer_id,
        "kind": "company",
        "company_name": "Acme GmbH",
        "first_name": "Max",
        "last_name": "Mustermann",
        "customer_number": "K-1001",
        "email": "billing@acme.example",
        "phone": "+49 30 1234567",
        "address": {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DE"},
        "vat_id": "DE123456789",
        "tax_number": None,
        "sevdesk_id": None,
    }
    data.update(overrides)
    return data


def person(customer_id: str = "cust-2002", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": customer_id,
        "kind": "person",
        "first_name": "Erika",
        "last_name": "Musterfrau",
        "email": "erika@example.org",
        "address": {"street": "Ringstr. 5", "zip": "80331", "city": "München", "country": "DE"},
    }
    data.update(overrides)
    return data


def product(product_id: str = "prod-7", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": product_id,
        "sku": "SKU-7",
        "name": "Consulting hour",
        "description": "Senior consultant",
        "net_price": "120.00",
        "tax_rate": "19",
        "unit": "hour",
        "active": True,
        "sevdesk_id": None,
    }
    data.update(overrides)
    return data


def deal(deal_id: str = "deal-42", **overrides: Any) -> dict[str, Any]:
    """The contract's example deal: 10 h at 120.00 less 10 %, 5 % off the whole, an 80.00 travel fee."""
    data: dict[str, Any] = {
        "id": deal_id,
        "number": "D-2026-0042",
        "title": "Website relaunch",
        "customer": company(),
        "currency": "EUR",
        "date": "2026-11-20",
        "lines": [
            {
                "product_id": "prod-7",
                "name": "Consulting hour",
                "description": None,
                "quantity": "10",
                "unit": "hour",
                "unit_net_price": "120.00",
                "tax_rate": "19",
                "discount_percent": "10",
            }
        ],
        "discount": {"type": "percent", "value": "5"},
        "fees": [{"name": "Travel", "net_amount": "80.00", "tax_rate": "19"}],
        "tax_type": None,
    }
    data.update(overrides)
    return data


def crm_invoice(invoice_id: str = "inv-9", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": invoice_id,
        "number": "2531-Ljnk-278",
        "customer_number": "K-1001",
        "customer_name": "XYZ Design",
        "date": "2025-02-28",
        "delivery_date": "2025-02-28",
        "currency": "EUR",
        "tax_type": None,
        "lines": [
            {
                "name": "Fixed desk, February",
                "net_amount": "220.00",
                "tax_rate": "19",
                "accounting_code": "8400",
            }
        ],
        "payment_method": "bank_transfer",
    }
    data.update(overrides)
    return data


def payment(payment_id: str = "pay-3", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": payment_id,
        "invoice_id": "inv-9",
        "deal_id": None,
        "amount": "261.80",
        "date": "2025-03-30",
        "payment_method": "cash",
        "reference": "2531-Ljnk-278",
    }
    data.update(overrides)
    return data
