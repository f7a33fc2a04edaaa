"""The checked-in JSON Schema files: current, valid, and in agreement with the models."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from sevsync_events.envelope import Envelope
from sevsync_events.json_schema import SCHEMA_DIR, check, main, schema_files, write
from sevsync_events.outbound import CustomerLinked, ImportedCustomer, ImportedProduct, SyncResult
from sevsync_events.payloads import Address
from sevsync_events.registry import (
    INBOUND_EVENT_TYPES,
    OUTBOUND_EVENT_TYPES,
    InvalidEvent,
    parse_inbound,
    sync_event_type,
)

# One sample per shape in the contract, with our own values.
ACME = {
    "id": "cust-2001",
    "kind": "company",
    "company_name": "Fjord Tools GmbH",
    "first_name": "Lena",
    "last_name": "Brandt",
    "customer_number": "K-2001",
    "email": "accounts@fjord.example",
    "phone": "+49 431 998877",
    "address": {"street": "Kaistr. 4", "zip": "24103", "city": "Kiel", "country": "DE"},
    "vat_id": "DE111222333",
    "tax_number": None,
    "sevdesk_id": None,
}
PRODUCT = {
    "id": "prod-12",
    "sku": "SKU-12",
    "name": "Design sprint",
    "description": "Five days, two designers",
    "net_price": "4800.00",
    "tax_rate": "19",
    "unit": "day",
    "active": True,
    "sevdesk_id": None,
}
DEAL = {
    "id": "deal-77",
    "number": "D-2026-0077",
    "title": "Shop redesign",
    "customer": ACME,
    "currency": "EUR",
    "date": "2026-11-20",
    "lines": [
        {
            "product_id": "prod-12",
            "name": "Design sprint",
            "description": None,
            "quantity": "2",
            "unit": "day",
            "unit_net_price": "4800.00",
            "tax_rate": "19",
            "discount_percent": "5",
        }
    ],
    "discount": {"type": "amount", "value": "250.00"},
    "fees": [{"name": "Travel", "net_amount": "120.00", "tax_rate": "19"}],
    "tax_type": None,
}
INVOICE = {
    "id": "inv-31",
    "number": "7781-Qx-31",
    "customer_number": "K-2001",
    "customer_name": "Fjord Tools GmbH",
    "date": "2025-04-30",
    "delivery_date": "2025-04-30",
    "currency": "EUR",
    "tax_type": None,
    "lines": [
        {"name": "Co-working, April", "net_amount": "310.00", "tax_rate": "19", "accounting_code": "8400"}
    ],
    "payment_method": "bank_transfer",
}
PAYMENT = {
    "id": "pay-31",
    "invoice_id": "inv-31",
    "deal_id": None,
    "amount": "368.90",
    "date": "2025-05-12",
    "payment_method": "paypal",
    "reference": "7781-Qx-31",
}
INBOUND_DATA: dict[str, dict[str, Any]] = {
    "customer.created": ACME,
    "customer.updated": ACME,
    "customer.deleted": {"id": "cust-2001"},
    "product.created": PRODUCT,
    "product.updated": PRODUCT,
    "deal.opened": DEAL,
    "deal.updated": DEAL,
    "deal.won": DEAL,
    "deal.lost": {"id": "deal-77", "reason": "went with another agency"},
    "deal.cancelled": {"id": "deal-77", "reason": "customer withdrew"},
    "invoice.issued": INVOICE,
    "invoice.cancelled": {
        "id": "inv-31",
        "number": "ST-7781-1",
        "date": "2025-05-02",
        "reason": "wrong month",
    },
    "payment.received": PAYMENT,
}


def sample(event_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "event_id": "7d2b7c1e-2f0a-4e55-8a2c-0c3d5e6f7a8b",
        "event_type": event_type,
        "tenant_id": "fjord",
        "occurred_at": "2026-11-20T10:15:00Z",
        "version": 12,
        "data": copy.deepcopy(INBOUND_DATA[event_type] if data is None else data),
    }


def validator(event_type: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_checked_in_files_are_current() -> None:
    problems = check()
    assert problems == [], (
        "run `make json-schema` (python -m sevsync_events.json_schema --write): " + ", ".join(problems)
    )


def test_there_is_one_file_per_event_type() -> None:
    names = {path.name for path in SCHEMA_DIR.glob("*.json")}
    assert names == {f"{event_type}.json" for event_type in (*INBOUND_EVENT_TYPES, *OUTBOUND_EVENT_TYPES)}


def test_generation_is_deterministic_and_formatted() -> None:
    first = schema_files()
    assert first == schema_files()
    text = first["deal.won.json"]
    assert text.endswith("}\n")
    assert text.startswith('{\n  "$defs": {')
    assert json.loads(text)["properties"]["event_type"]["const"] == "deal.won"


def test_check_reports_missing_stale_and_extra_files_and_write_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert "missing: deal.won.json" in capsys.readouterr().err

    assert main(["--write", "--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0

    (tmp_path / "deal.won.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "deal.postponed.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: deal.won.json" in err
    assert "extra: deal.postponed.json" in err

    write(tmp_path)
    assert check(tmp_path) == []
    assert not (tmp_path / "deal.postponed.json").exists()


@pytest.mark.parametrize("event_type", INBOUND_EVENT_TYPES)
def test_contract_samples_pass_both_the_schema_and_the_parser(event_type: str) -> None:
    document = sample(event_type)
    validator(event_type).validate(document)
    assert parse_inbound(json.dumps(document).encode()).event_type == event_type


def test_the_schema_fixes_the_event_type() -> None:
    document = sample("customer.created")
    document["event_type"] = "customer.updated"
    assert not validator("customer.created").is_valid(document)


def _changed(event_type: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    document = sample(event_type)
    target: Any = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [
        ("product.created", ("data", "net_price"), 4800.0),
        ("product.created", ("data", "net_price"), "4800.001"),
        ("product.created", ("data", "net_price"), "-1.00"),
        ("product.created", ("data", "tax_rate"), "16"),
        ("product.created", ("data", "active"), "true"),
        ("deal.won", ("data", "lines", 0, "quantity"), "0"),
        ("deal.won", ("data", "lines", 0, "quantity"), "1e3"),
        ("deal.won", ("data", "lines", 0, "discount_percent"), "100.5"),
        ("deal.won", ("data", "lines"), []),
        ("deal.won", ("data", "discount"), {"type": "gift", "value": "5"}),
        ("deal.won", ("data", "customer", "address", "country"), "XX"),
        ("deal.won", ("data", "customer", "address", "country"), "de"),
        ("deal.won", ("data", "customer", "company_name"), None),
        ("deal.won", ("data", "date"), "20.11.2026"),
        ("deal.won", ("data", "tax_type"), "reduced"),
        ("customer.created", ("data", "company_name"), "   "),
        ("payment.received", ("data", "deal_id"), "deal-77"),
        ("payment.received", ("data", "invoice_id"), None),
        ("payment.received", ("data", "amount"), "0.00"),
        ("customer.created", ("tenant_id",), "a b"),
        ("customer.created", ("tenant_id",), "a" * 65),
        ("customer.created", ("version",), "12"),
        ("customer.created", ("occurred_at",), "2026-11-20T10:15:00"),
        ("customer.created", ("event_id",), "not-a-uuid"),
        ("customer.created", ("data", "extra"), 1),
    ],
)
def test_schema_and_parser_refuse_the_same_mistakes(
    event_type: str, path: tuple[str | int, ...], value: Any
) -> None:
    document = _changed(event_type, path, value)
    assert not validator(event_type).is_valid(document)
    with pytest.raises(InvalidEvent):
        parse_inbound(json.dumps(document).encode())


def test_a_person_without_last_name_is_refused_by_the_schema() -> None:
    document = sample("customer.created")
    document["data"].update(kind="person", company_name=None, last_name=None)
    assert not validator("customer.created").is_valid(document)
    document["data"]["last_name"] = "Brandt"
    validator("customer.created").validate(document)


def test_outbound_events_built_by_the_models_match_their_schemas() -> None:
    source = UUID("7d2b7c1e-2f0a-4e55-8a2c-0c3d5e6f7a8b")
    imported_customer = ImportedCustomer(
        kind="person",
        last_name="Brandt",
        sevdesk_id="4321",
        address=Address(country="AT"),
    )
    imported_product = ImportedProduct.model_validate({**PRODUCT, "id": None, "sevdesk_id": "99"})
    events: list[Envelope[Any]] = [
        Envelope.new(
            sync_event_type(status),
            "fjord",
            12,
            SyncResult(
                source_event_id=source if status != "dead" else None,
                source_event_type="deal.won" if status != "dead" else None,
                entity_type="deal" if status != "dead" else None,
                entity_id="deal-77" if status != "dead" else None,
                status=status,
                reason={"skipped": "stale", "failed": "tax_rule_invalid", "dead": "malformed"}.get(status),
            ),
        )
        for status in ("succeeded", "skipped", "failed", "dead", "parked")
    ]
    events.append(
        Envelope.new(
            "customer.linked",
            "fjord",
            12,
            CustomerLinked(customer_id="cust-2001", sevdesk_contact_id="4321", customer_number="K-2001"),
        )
    )
    events.append(Envelope.new("contact.imported", "fjord", 0, imported_customer))
    events.append(Envelope.new("part.imported", "fjord", 0, imported_product))
    for event in events:
        validator(event.event_type).validate(json.loads(event.to_json_bytes()))


def test_imported_records_need_a_sevdesk_id_in_the_schema_too() -> None:
    document: dict[str, Any] = {
        "event_id": "7d2b7c1e-2f0a-4e55-8a2c-0c3d5e6f7a8b",
        "event_type": "part.imported",
        "tenant_id": "fjord",
        "occurred_at": "2026-11-20T10:15:00Z",
        "version": 0,
        "data": {**PRODUCT, "id": None},
    }
    assert not validator("part.imported").is_valid(document)
    document["data"]["sevdesk_id"] = "99"
    validator("part.imported").validate(document)
    document["data"]["id"] = "prod-12"
    assert not validator("part.imported").is_valid(document)
