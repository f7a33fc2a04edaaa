"""A corpus of hostile inbound messages, each with the dead letter it must end as.

Every case is one row: a name, the exact body bytes, the routing key it is published with, the
dead-letter `reason` and a distinctive substring of the error detail the worker must record, plus
the identity (`event_id`, `tenant_id`, `event_type`) the dead-letter row must carry: the values the
message carried that were valid on their own, and nothing otherwise.

All bad events name the connected tenant `acme` and use entity ids and business keys of their own
("bad-..."), so a message that slipped through validation would show up in sevDesk.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from uuid import UUID

from ..samples import company, person, product
from .harness import envelope

Reason = Literal[
    "malformed", "unknown_event_type", "unsupported_currency", "tax_rule_invalid", "unknown_check_account"
]

TENANT: Final = "acme"
# Deeper than any JSON parser recursion limit we rely on (Python's is about 1000), yet small.
NESTING_DEPTH: Final = 5_000
# Routing key meaning "publish straight to the work queue through the default exchange": for
# event types the inbound exchange does not route (deal.*, invoice.*, payment.*, unknown types).
TO_QUEUE: Final = None


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    routing_key: str | None  # TO_QUEUE: the work queue directly
    reason: Reason
    detail: str  # a substring the dead letter's error must contain
    event_id: UUID | None = None
    tenant_id: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class GoodEvent:
    """A valid event of the connected tenant, with the sevDesk business key it must create."""

    message: dict[str, Any] = field(repr=False)
    sevdesk_object: Literal["Contact", "Part"]
    business_key: str

    @property
    def event_id(self) -> UUID:
        return UUID(self.message["event_id"])

    @property
    def body(self) -> bytes:
        return json.dumps(self.message).encode()

    @property
    def routing_key(self) -> str:
        return str(self.message["event_type"])


# --- building blocks ------------------------------------------------------------------------------

_IDENTITY_FIELDS: Final = ("event_id", "tenant_id", "event_type")


def _deal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "bad-deal-1",
        "number": "D-BAD-1",
        "customer": person("bad-deal-customer", customer_number="K-BAD-DEAL"),
        "currency": "EUR",
        "date": "2026-11-20",
        "lines": [_deal_line()],
    }
    data.update(overrides)
    return data


def _deal_line(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "name": "Consulting hour",
        "quantity": "2",
        "unit_net_price": "120.00",
        "tax_rate": "19",
        "discount_percent": "10",
    }
    line.update(overrides)
    return line


def _invoice(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "bad-invoice-1",
        "number": "R-BAD-1",
        "customer_number": "K-BAD-INV",
        "date": "2026-11-20",
        "currency": "EUR",
        "lines": [{"name": "Licence", "net_amount": "99.00", "tax_rate": "19", "accounting_code": "8400"}],
    }
    data.update(overrides)
    return data


def _payment(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "bad-payment-1", "amount": "49.90", "date": "2026-11-20"}
    data.update(overrides)
    return data


def _bad_company(n: int, **overrides: Any) -> dict[str, Any]:
    return company(f"bad-cust-{n}", customer_number=f"K-BAD-{n}", **overrides)


def _bad_person(n: int, **overrides: Any) -> dict[str, Any]:
    return person(f"bad-cust-{n}", customer_number=f"K-BAD-{n}", **overrides)


def _bad_product(n: int, **overrides: Any) -> dict[str, Any]:
    return product(f"bad-prod-{n}", sku=f"SKU-BAD-{n}", **overrides)


def _address(**overrides: Any) -> dict[str, Any]:
    address: dict[str, Any] = {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DE"}
    address.update(overrides)
    return address


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _identity(message: dict[str, Any], broken: set[str]) -> dict[str, Any]:
    """The identity a dead letter must carry: the envelope's own values, except the broken ones."""
    expected: dict[str, Any] = {}
    for name in _IDENTITY_FIELDS:
        if name in broken or name not in message:
            expected[name] = None
        elif name == "event_id":
            expected[name] = UUID(message[name])
        else:
            expected[name] = message[name]
    return expected


def _event(
    name: str,
    event_type: str,
    data: Any,
    /,
    *,
    detail: str,
    reason: Reason = "malformed",
    routing_key: str | None = "",
    drop: tuple[str, ...] = (),
    encode: Callable[[str], bytes] = str.encode,
    unparsable: bool = False,
    **envelope_overrides: Any,
) -> Case:
    """A case built from an envelope: `envelope_overrides` replace fields (identity fields so
    replaced are expected to be missing from the dead letter), `drop` removes fields, `encode`
    turns the JSON text into the body (to corrupt it at the byte level). `unparsable`: the body
    cannot be parsed at all, so no identity can be read from it either."""
    message = envelope(event_type, data, tenant=TENANT)
    message.update(envelope_overrides)
    for key in drop:
        del message[key]
    return Case(
        name=name,
        body=encode(json.dumps(message)),
        routing_key=event_type if routing_key == "" else routing_key,
        reason=reason,
        detail=detail,
        **_identity(message, set(_IDENTITY_FIELDS) if unparsable else set(envelope_overrides) | set(drop)),
    )


def _raw(name: str, body: bytes, detail: str) -> Case:
    """A body that is not a JSON object at all: no identity can be read from it."""
    return Case(name=name, body=body, routing_key="customer.created", reason="malformed", detail=detail)


def _replace_once(old: str, new: str) -> Callable[[str], bytes]:
    def encode(text: str) -> bytes:
        assert text.count(old) == 1, f"{old!r} must occur exactly once in the body"
        return text.replace(old, new).encode()

    return encode


# --- the corpus -----------------------------------------------------------------------------------


def hostile_cases(max_body_bytes: int) -> list[Case]:
    """The malformed and unknown messages, each with fresh event ids."""
    valid_customer = envelope("customer.created", _bad_company(99), tenant=TENANT)
    valid_customer_json = json.dumps(valid_customer)
    cc = "customer.created"
    pc = "product.created"
    do = "deal.opened"

    cases = [
        # --- bytes that are not a JSON object ---------------------------------------------------
        _raw("not JSON", b"this is not json {", "body is not JSON: Expecting value at line 1 column 1"),
        _raw(
            "truncated JSON",
            valid_customer_json[:60].encode(),
            "body is not JSON: Unterminated string starting at line 1 column",
        ),
        _raw("empty body", b"", "body is not JSON: Expecting value"),
        _raw("whitespace only", b" \n\t ", "body is not JSON: Expecting value at line 2 column 3"),
        _raw("not UTF-8 (Latin-1 umlaut)", b'{"name": "M\xfcller"}', "body is not valid UTF-8 at byte 11"),
        _raw("UTF-16 encoded", valid_customer_json.encode("utf-16"), "body is not valid UTF-8 at byte 0"),
        _raw("UTF-8 byte order mark", b"\xef\xbb\xbf" + valid_customer_json.encode(), "UTF-8 BOM"),
        _raw("JSON array", b'[{"event_type": "customer.created"}]', "body is an array, not a JSON object"),
        _raw("JSON string", b'"customer.created"', "body is a string, not a JSON object"),
        _raw("JSON number", b"42", "body is a number, not a JSON object"),
        _raw("JSON null", b"null", "body is null, not a JSON object"),
        _raw("JSON boolean", b"true", "body is a boolean, not a JSON object"),
        _raw("control character in a string", b'{"tenant_id": "ac\x01me"}', "Invalid control character"),
        _raw(
            "deeply nested JSON",
            b'{"data": ' + b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH + b"}",
            "body is not usable JSON: nested too deeply",
        ),
        _raw(
            "integer literal beyond the digit limit",
            b'{"version": ' + b"9" * 5000 + b"}",
            "body is not usable JSON",
        ),
        Case(
            name="oversize body (a valid event padded with whitespace)",
            body=valid_customer_json.replace(", ", "," + " " * max_body_bytes, 1).encode(),
            routing_key=cc,
            reason="malformed",
            # Not parsed at all, so no identity even though the event inside is valid.
            detail=f"larger than the {max_body_bytes} allowed",
        ),
        # --- JSON-level tricks inside an otherwise valid envelope ------------------------------
        _event(
            "NaN in a number",
            cc,
            _bad_company(1),
            detail="body is not JSON: NaN is not a JSON value",
            encode=_replace_once('"version": 1', '"version": NaN'),
            unparsable=True,
        ),
        _event(
            "-Infinity in a number",
            cc,
            _bad_company(2),
            detail="body is not JSON: -Infinity is not a JSON value",
            encode=_replace_once('"version": 1', '"version": -Infinity'),
            unparsable=True,
        ),
        Case(
            name="duplicate key in the envelope",
            body=(valid_customer_json[:-1] + ', "tenant_id": "acme"}').encode(),
            routing_key=cc,
            reason="malformed",
            detail="body has the key 'tenant_id' twice in one object",
            **_identity(valid_customer, set()),
        ),
        _event(
            "duplicate key in the payload",
            pc,
            _bad_product(3),
            detail="body has the key 'net_price' twice in one object",
            encode=_replace_once('"net_price": "120.00"', '"net_price": "120.00", "net_price": "0.01"'),
        ),
        _event(
            "unpaired UTF-16 surrogate escape",
            cc,
            _bad_company(4, company_name="Acme PLACEHOLDER"),
            detail="unpaired UTF-16 surrogate",
            encode=_replace_once("PLACEHOLDER", "\\ud800"),
        ),
        # --- envelope fields -------------------------------------------------------------------
        _event(
            "missing event_id", cc, _bad_company(5), drop=("event_id",), detail="event_id: Field required"
        ),
        _event(
            "missing event_type",
            cc,
            _bad_company(6),
            drop=("event_type",),
            detail="event_type: Field required",
        ),
        _event(
            "missing tenant_id", cc, _bad_company(7), drop=("tenant_id",), detail="tenant_id: Field required"
        ),
        _event(
            "missing occurred_at",
            cc,
            _bad_company(8),
            drop=("occurred_at",),
            detail="occurred_at: Field required",
        ),
        _event("missing version", cc, _bad_company(9), drop=("version",), detail="version: Field required"),
        _event("missing data", cc, _bad_company(10), drop=("data",), detail="data: Field required"),
        _event(
            "event_id not a UUID",
            cc,
            _bad_company(11),
            detail='event_id: must be a UUID like "',
            event_id="12345",
        ),
        _event(
            "event_id in braces",
            cc,
            _bad_company(12),
            detail='event_id: must be a UUID like "',
            event_id="{" + str(uuid.uuid4()) + "}",
        ),
        _event(
            "event_type empty",
            cc,
            _bad_company(13),
            detail="event_type: String should have at least 1 character",
            event_type="",
        ),
        _event(
            "event_type longer than a routing key",
            cc,
            _bad_company(14),
            detail="event_type: String should have at most 255 characters",
            event_type="customer." + "x" * 247,
        ),
        _event(
            "version negative",
            cc,
            _bad_company(15),
            detail="version: Input should be greater than or equal to 0",
            version=-1,
        ),
        _event(
            "version a float",
            cc,
            _bad_company(16),
            detail="version: Input should be a valid integer",
            version=2.0,
        ),
        _event(
            "version a string",
            cc,
            _bad_company(17),
            detail="version: Input should be a valid integer",
            version="3",
        ),
        _event(
            "version a boolean",
            cc,
            _bad_company(18),
            detail="version: Input should be a valid integer",
            version=True,
        ),
        _event(
            "version beyond bigint",
            cc,
            _bad_company(19),
            detail="version: Input should be less than or equal to 9223372036854775807",
            version=2**63,
        ),
        _event(
            "occurred_at not a date-time",
            cc,
            _bad_company(20),
            detail="occurred_at: must be an ISO 8601 date-time with a UTC offset",
            occurred_at="yesterday",
        ),
        _event(
            "occurred_at without a timezone",
            cc,
            _bad_company(21),
            detail="occurred_at: must be an ISO 8601 date-time with a UTC offset",
            occurred_at="2026-11-20T10:15:00",
        ),
        _event(
            "occurred_at an impossible time",
            cc,
            _bad_company(22),
            detail="occurred_at: is not a valid date-time",
            occurred_at="2026-11-20T25:15:00Z",
        ),
        _event(
            "tenant_id empty",
            cc,
            _bad_company(23),
            detail='tenant_id: must be 1-64 characters of letters, digits, "_", "." or "-"',
            tenant_id="",
        ),
        _event(
            "tenant_id 65 characters",
            cc,
            _bad_company(24),
            detail="tenant_id: must be 1-64",
            tenant_id="a" * 65,
        ),
        _event(
            "tenant_id with a space",
            cc,
            _bad_company(25),
            detail="tenant_id: must be 1-64",
            tenant_id="ac me",
        ),
        _event(
            "tenant_id with a slash",
            cc,
            _bad_company(26),
            detail="tenant_id: must be 1-64",
            tenant_id="acme/x",
        ),
        _event(
            "tenant_id not a string",
            cc,
            _bad_company(27),
            detail='tenant_id: must be 1-64 characters of letters, digits, "_", "." or "-", not a number',
            tenant_id=42,
        ),
        _event(
            "extra envelope field",
            cc,
            _bad_company(28),
            detail="priority: Extra inputs are not permitted",
            priority="high",
        ),
        _event(
            "data a string",
            cc,
            "customer",
            detail="data: Input should be a valid dictionary or instance of Customer",
        ),
        _event(
            "data an array",
            pc,
            [_bad_product(29)],
            detail="data: Input should be a valid dictionary or instance of Product",
        ),
        # --- event types -----------------------------------------------------------------------
        _event(
            "unknown event type, well-formed envelope",
            "customer.merged",
            {"id": "bad-cust-30", "into": "cust-1"},
            routing_key=TO_QUEUE,
            reason="unknown_event_type",
            detail="event type 'customer.merged' is not one sevsync handles",
        ),
        _event(
            "unknown event type with a malformed envelope is malformed",
            "customer.merged",
            {"id": "bad-cust-31"},
            routing_key=TO_QUEUE,
            detail="version: Input should be greater than or equal to 0",
            version=-5,
        ),
        # --- customer payloads -----------------------------------------------------------------
        _event(
            "company without company_name",
            cc,
            _without(_bad_company(32), "company_name"),
            detail='data: a customer of kind "company" needs company_name',
        ),
        _event(
            "person without last_name",
            cc,
            _without(_bad_person(33), "last_name"),
            detail='data: a customer of kind "person" needs last_name',
        ),
        _event(
            "company_name blank",
            cc,
            _bad_company(34, company_name="   "),
            detail="data.company_name: must not be empty or blank",
        ),
        _event(
            "unknown customer kind",
            cc,
            _bad_company(35, kind="partnership"),
            detail="data.kind: Input should be 'company' or 'person'",
        ),
        _event(
            "unassigned country code XX",
            cc,
            _bad_company(36, address=_address(country="XX")),
            detail="data.address.country: 'XX' is not an assigned ISO 3166-1 alpha-2 country code",
        ),
        _event(
            "lowercase country code",
            cc,
            _bad_company(37, address=_address(country="de")),
            detail="data.address.country: must be an uppercase ISO 3166-1 alpha-2 country code",
        ),
        _event(
            "country name instead of code",
            cc,
            _bad_person(38, address=_address(country="Germany")),
            detail="data.address.country: must be an uppercase ISO 3166-1 alpha-2 country code",
        ),
        _event(
            "address without country",
            cc,
            _bad_company(39, address=_without(_address(), "country")),
            detail="data.address.country: Field required",
        ),
        _event(
            "email without @",
            cc,
            _bad_company(40, email="billing.acme.example"),
            detail='data.email: must be an e-mail address like "billing@example.com"',
        ),
        _event(
            "customer id with surrounding whitespace",
            "customer.updated",
            _bad_company(41, id=" bad-cust-41"),
            detail="data.id: must be 1-200 characters without control characters",
        ),
        _event(
            "unknown customer field",
            "customer.updated",
            _bad_company(42, colour="blue"),
            detail="data.colour: Extra inputs are not permitted",
        ),
        _event(
            "sevdesk_id not digits",
            "customer.updated",
            _bad_company(43, sevdesk_id="abc"),
            detail='data.sevdesk_id: must be a sevDesk id: a string of digits like "12345"',
        ),
        # --- product payloads ------------------------------------------------------------------
        _event(
            "net_price a JSON float",
            pc,
            _bad_product(44, net_price=120.5),
            detail='data.net_price: must be a decimal string like "49.90", not a number',
        ),
        _event(
            "net_price a JSON integer",
            pc,
            _bad_product(45, net_price=120),
            detail='data.net_price: must be a decimal string like "49.90", not a number',
        ),
        _event(
            "net_price with a decimal comma",
            pc,
            _bad_product(46, net_price="12,50"),
            detail='data.net_price: must be a decimal string like "49.90" (digits with an optional',
        ),
        _event(
            "net_price with an exponent",
            pc,
            _bad_product(47, net_price="1e3"),
            detail="no exponent, spaces or commas",
        ),
        _event(
            "net_price negative",
            pc,
            _bad_product(48, net_price="-1.00"),
            detail="data.net_price: must not be negative",
        ),
        _event(
            "net_price with three decimal places",
            pc,
            _bad_product(49, net_price="1.005"),
            detail="data.net_price: has 3 decimal places, at most 2 allowed",
        ),
        _event(
            "tax_rate 20",
            pc,
            _bad_product(50, tax_rate="20"),
            detail="data.tax_rate: must be one of 0, 7, 19",
        ),
        _event(
            "tax_rate a JSON number",
            "product.updated",
            _bad_product(51, tax_rate=19),
            detail='data.tax_rate: must be a decimal string like "19", not a number',
        ),
        _event(
            "active a string",
            "product.updated",
            _bad_product(52, active="yes"),
            detail="data.active: Input should be a valid boolean",
        ),
        _event(
            "product name missing",
            pc,
            _without(_bad_product(53), "name"),
            detail="data.name: Field required",
        ),
        # --- deal payloads (not bound: straight to the work queue) -----------------------------
        _event(
            "deal line quantity negative",
            do,
            _deal(lines=[_deal_line(quantity="-1")]),
            routing_key=TO_QUEUE,
            detail="data.lines.0.quantity: must not be negative",
        ),
        _event(
            "deal line quantity zero",
            do,
            _deal(lines=[_deal_line(quantity="0")]),
            routing_key=TO_QUEUE,
            detail="data.lines.0.quantity: must be greater than 0",
        ),
        _event(
            "deal line discount_percent 150",
            "deal.updated",
            _deal(lines=[_deal_line(), _deal_line(discount_percent="150")]),
            routing_key=TO_QUEUE,
            detail="data.lines.1.discount_percent: must be at most 100",
        ),
        _event(
            "deal without lines",
            "deal.won",
            _deal(lines=[]),
            routing_key=TO_QUEUE,
            detail="data.lines: Tuple should have at least 1 item",
        ),
        _event(
            "deal date month 13",
            do,
            _deal(date="2026-13-01"),
            routing_key=TO_QUEUE,
            detail="data.date: is not a valid calendar date",
        ),
        _event(
            "deal date in German notation",
            do,
            _deal(date="20.11.2026"),
            routing_key=TO_QUEUE,
            detail='data.date: must be an ISO date string "YYYY-MM-DD"',
        ),
        _event(
            "deal customer with a bad country",
            do,
            _deal(customer=_bad_person(54, address=_address(country="XX"))),
            routing_key=TO_QUEUE,
            detail="data.customer.address.country: 'XX' is not an assigned",
        ),
        _event(
            "deal currency lowercase",
            do,
            _deal(currency="eur"),
            routing_key=TO_QUEUE,
            detail="data.currency: must be a three-letter uppercase ISO 4217 currency code",
        ),
        # --- payment and invoice payloads ------------------------------------------------------
        _event(
            "payment with both invoice_id and deal_id",
            "payment.received",
            _payment(invoice_id="bad-invoice-1", deal_id="bad-deal-1"),
            routing_key=TO_QUEUE,
            detail="data: exactly one of invoice_id or deal_id must be set, not both",
        ),
        _event(
            "payment with neither invoice_id nor deal_id",
            "payment.received",
            _payment(),
            routing_key=TO_QUEUE,
            detail="data: exactly one of invoice_id or deal_id must be set, not neither",
        ),
        _event(
            "payment amount zero",
            "payment.received",
            _payment(invoice_id="bad-invoice-1", amount="0.00"),
            routing_key=TO_QUEUE,
            detail="data.amount: must be greater than 0",
        ),
        _event(
            "invoice line tax_rate over 100",
            "invoice.issued",
            _invoice(
                lines=[
                    {"name": "Licence", "net_amount": "99.00", "tax_rate": "119", "accounting_code": "8400"}
                ]
            ),
            routing_key=TO_QUEUE,
            detail="data.lines.0.tax_rate: must be at most 100",
        ),
    ]
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return cases


def control_cases() -> list[Case]:
    """Valid deal, payment and invoice events that the worker refuses for a business reason before
    calling sevDesk (`failed`, never `malformed`). They show that the deal, payment and invoice cases
    above fail on the one field they break, and that a non-EUR invoice is valid by the contract."""
    return [
        _event(
            "valid deal whose tax needs are unmet",
            "deal.opened",
            _deal(id="ok-deal-1", tax_type="eu_intra_community"),
            routing_key=TO_QUEUE,
            reason="tax_rule_invalid",
            detail="eu_intra_community needs the customer's VAT id",
        ),
        _event(
            "valid payment with an unmapped method",
            "payment.received",
            _payment(id="ok-payment-1", deal_id="ok-deal-1", payment_method="barter"),
            routing_key=TO_QUEUE,
            reason="unknown_check_account",
            detail="payment method barter has no sevDesk check account",
        ),
        _event(
            "invoice in USD is valid by the contract",
            "invoice.issued",
            _invoice(id="ok-invoice-1", currency="USD"),
            routing_key=TO_QUEUE,
            reason="unsupported_currency",
            detail="currency USD is not supported",
        ),
    ]


def good_events() -> list[GoodEvent]:
    """Valid customer and product events of the connected tenant, each with its own entity."""
    events: list[GoodEvent] = []
    for n in range(1, 13):
        if n % 3 == 0:
            number = f"K-GOOD-{n}"
            data = person(f"good-cust-{n}", customer_number=number, last_name=f"Person {n}")
            events.append(GoodEvent(envelope("customer.created", data, tenant=TENANT), "Contact", number))
        elif n % 3 == 1:
            number = f"K-GOOD-{n}"
            data = company(f"good-cust-{n}", customer_number=number, company_name=f"Good {n} GmbH")
            events.append(GoodEvent(envelope("customer.created", data, tenant=TENANT), "Contact", number))
        else:
            sku = f"SKU-GOOD-{n}"
            data = product(f"good-prod-{n}", sku=sku, name=f"Good product {n}", net_price=f"{n}.50")
            events.append(GoodEvent(envelope("product.created", data, tenant=TENANT), "Part", sku))
    return events
