"""The sample CRM events `make demo` publishes: customers, products, a deal and a CRM invoice."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

DEMO_TENANT = "demo"


def one_page_pdf(text: str) -> bytes:
    """A minimal, valid one-page PDF showing `text` (ASCII), built here so the demo needs no file."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def event(event_type: str, data: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "tenant_id": DEMO_TENANT,
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "version": version,
        "data": data,
    }


ACME = {
    "id": "cust-1001",
    "kind": "company",
    "company_name": "Acme GmbH",
    "first_name": "Max",
    "last_name": "Mustermann",
    "customer_number": "K-1001",
    "email": "billing@acme.example",
    "phone": "+49 30 1234567",
    "address": {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DE"},
    "vat_id": "DE123456789",
}
ERIKA = {
    "id": "cust-2002",
    "kind": "person",
    "first_name": "Erika",
    "last_name": "Musterfrau",
    "email": "erika@example.org",
    "address": {"street": "Ringstr. 5", "zip": "80331", "city": "München", "country": "DE"},
}
PRODUCTS = [
    {
        "id": "prod-7",
        "sku": "SKU-7",
        "name": "Consulting hour",
        "description": "Senior consultant",
        "net_price": "120.00",
        "tax_rate": "19",
        "unit": "hour",
        "active": True,
    },
    {
        "id": "prod-8",
        "sku": "SKU-8",
        "name": "Cookbook",
        "net_price": "24.90",
        "tax_rate": "7",
        "active": True,
    },
]


# A deal for a customer the CRM has not synced yet: sevsync creates the contact first.
DEAL = {
    "id": "deal-42",
    "number": "D-2026-0042",
    "title": "Website relaunch",
    "customer": {
        "id": "cust-3003",
        "kind": "company",
        "company_name": "Beispiel AG",
        "customer_number": "K-3003",
        "email": "rechnungseingang@beispiel.example",
        # Beispiel AG asked for e-invoices; its purchase order number goes on them.
        "buyer_reference": "PO-2026-117",
        "address": {"street": "Marktplatz 3", "zip": "20095", "city": "Hamburg", "country": "DE"},
    },
    "currency": "EUR",
    "date": "2026-11-20",
    "lines": [
        {
            "product_id": "prod-7",
            "name": "Consulting hour",
            "quantity": "10",
            "unit": "hour",
            "unit_net_price": "120.00",
            "tax_rate": "19",
            "discount_percent": "10",
        },
        {
            "product_id": "prod-8",
            "name": "Cookbook",
            "quantity": "3",
            "unit_net_price": "24.90",
            "tax_rate": "7",
        },
    ],
    "discount": {"type": "percent", "value": "5"},
    "fees": [{"name": "Travel", "net_amount": "80.00", "tax_rate": "19"}],
    "payment_method": "transfer",
}
# An invoice the CRM numbered and issued itself: a revenue voucher in sevDesk, then paid in cash.
CRM_INVOICE = {
    "id": "inv-9",
    "number": "2531-Ljnk-278",
    "customer_number": "K-1001",
    "customer_name": "Acme GmbH",
    "date": "2026-11-02",
    "currency": "EUR",
    "lines": [
        {"name": "Fixed desk, November", "net_amount": "220.00", "tax_rate": "19", "accounting_code": "8400"}
    ],
    "payment_method": "cash",
    # The CRM's own PDF of the invoice: the accountant finds it on the voucher.
    "document": {
        "filename": "2531-Ljnk-278.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(one_page_pdf("Invoice 2531-Ljnk-278")).decode("ascii"),
    },
}
PAYMENT = {
    "id": "pay-3",
    "invoice_id": "inv-9",
    "amount": "261.80",
    "date": "2026-11-18",
    "payment_method": "cash",
    "reference": "2531-Ljnk-278",
}


def sample_batches() -> list[list[dict[str, Any]]]:
    """Customers and products first; then an update, a redelivered duplicate, an offer and a CRM
    invoice; then the deal is won and the invoice paid."""
    acme = event("customer.created", ACME)
    erika = event("customer.created", ERIKA)
    products = [event("product.created", p) for p in PRODUCTS]
    update = event("customer.updated", {**ACME, "email": "accounts@acme.example"}, version=2)
    opened = event("deal.opened", DEAL, version=1)
    issued = event("invoice.issued", CRM_INVOICE)
    won = event("deal.won", DEAL, version=2)
    paid = event("payment.received", PAYMENT)
    return [[acme, erika, *products], [update, erika, opened, issued], [won, paid]]
