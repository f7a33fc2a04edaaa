"""parse_inbound: what the worker gets for every kind of delivery body, good or bad."""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sevsync_events.payloads import (
    Customer,
    Deal,
    DealClosed,
    EntityRef,
    Invoice,
    InvoiceCancelled,
    Payment,
    Product,
)
from sevsync_events.registry import (
    INBOUND_EVENT_TYPES,
    InboundEvent,
    InvalidEvent,
    parse_inbound,
)

EVENT_ID = "5a0e3c55-8d0b-4a8e-9d43-1f7f0d2b9c61"

_CUSTOMER: dict[str, Any] = {
    "id": "c-9",
    "kind": "person",
    "first_name": "Ole",
    "last_name": "Hansen",
    "address": {"street": "Am Deich 3", "zip": "25980", "city": "Sylt", "country": "DE"},
}
_PRODUCT: dict[str, Any] = {"id": "p-3", "name": "Kayak rental", "net_price": "35.00", "tax_rate": "19"}
_DEAL: dict[str, Any] = {
    "id": "d-8",
    "number": "D-8",
    "customer": _CUSTOMER,
    "currency": "EUR",
    "date": "2026-06-01",
    "lines": [{"name": "Kayak rental", "quantity": "3", "unit_net_price": "35.00", "tax_rate": "19"}],
}
_INVOICE: dict[str, Any] = {
    "id": "i-4",
    "number": "R-2026-4",
    "date": "2026-06-02",
    "currency": "EUR",
    "lines": [{"name": "Kayak rental", "net_amount": "105.00", "tax_rate": "19", "accounting_code": "8400"}],
}

DATA_OF: dict[str, dict[str, Any]] = {
    "customer.created": _CUSTOMER,
    "customer.updated": _CUSTOMER,
    "customer.deleted": {"id": "c-9"},
    "product.created": _PRODUCT,
    "product.updated": _PRODUCT,
    "deal.opened": _DEAL,
    "deal.updated": _DEAL,
    "deal.won": _DEAL,
    "deal.lost": {"id": "d-8", "reason": "too expensive"},
    "deal.cancelled": {"id": "d-8", "reason": None},
    "invoice.issued": _INVOICE,
    "invoice.cancelled": {"id": "i-4", "number": "S-2026-1", "date": "2026-06-03", "reason": "typo"},
    "payment.received": {"id": "pay-2", "invoice_id": "i-4", "amount": "124.95", "date": "2026-06-10"},
}

PAYLOAD_CLASS = {
    "customer.created": Customer,
    "customer.updated": Customer,
    "customer.deleted": EntityRef,
    "product.created": Product,
    "product.updated": Product,
    "deal.opened": Deal,
    "deal.updated": Deal,
    "deal.won": Deal,
    "deal.lost": DealClosed,
    "deal.cancelled": DealClosed,
    "invoice.issued": Invoice,
    "invoice.cancelled": InvoiceCancelled,
    "payment.received": Payment,
}


def envelope(event_type: str = "deal.won", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event_id": EVENT_ID,
        "event_type": event_type,
        "tenant_id": "kueste",
        "occurred_at": "2026-06-01T08:00:00+02:00",
        "version": 4,
        "data": copy.deepcopy(DATA_OF.get(event_type, {"id": "x"})),
    }
    document.update(changes)
    return document


def encode(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8")


def invalid(body: bytes, **kwargs: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse_inbound(body, **kwargs)
    return info.value


# --- good events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", INBOUND_EVENT_TYPES)
def test_every_inbound_event_type_parses(event_type: str) -> None:
    event = parse_inbound(encode(envelope(event_type)))
    assert isinstance(event, InboundEvent)
    assert type(event.data) is PAYLOAD_CLASS[event_type]
    assert event.event_id == UUID(EVENT_ID)
    assert event.tenant_id == "kueste"
    assert event.version == 4
    assert event.entity_id == DATA_OF[event_type]["id"]


@pytest.mark.parametrize(
    ("event_type", "entity_type"),
    [
        ("customer.deleted", "customer"),
        ("product.updated", "product"),
        ("deal.lost", "deal"),
        ("invoice.cancelled", "invoice"),
        ("payment.received", "payment"),
    ],
)
def test_entity_type_names_the_crm_entity(event_type: str, entity_type: str) -> None:
    assert parse_inbound(encode(envelope(event_type))).entity_type == entity_type


def test_a_parsed_event_keeps_decimals_exact_and_serializes_them_as_strings() -> None:
    event = parse_inbound(encode(envelope("payment.received")))
    assert isinstance(event.data, Payment)
    assert str(event.data.amount) == "124.95"
    assert json.loads(event.to_json_bytes())["data"]["amount"] == "124.95"


def test_the_size_limit_is_inclusive() -> None:
    body = encode(envelope())
    assert parse_inbound(body, max_bytes=len(body)).event_type == "deal.won"


def test_surrogate_pairs_are_fine() -> None:
    body = encode(envelope("deal.lost", data={"id": "d-8", "reason": "\U0001f600"}))
    assert b"\\ud83d\\ude00" in body
    event = parse_inbound(body)
    assert isinstance(event.data, DealClosed)
    assert event.data.reason == "\U0001f600"


# --- bodies that are not JSON objects -------------------------------------------------------------


def test_oversize_body() -> None:
    error = invalid(b" " * 2_000_000, max_bytes=1_048_576)
    assert error.reason == "malformed"
    assert error.detail == "body is 2000000 bytes, larger than the 1048576 allowed"


def test_body_not_utf8_names_the_byte() -> None:
    error = invalid(b'{"event_id":\xff}')
    assert error.reason == "malformed"
    assert error.detail == "body is not valid UTF-8 at byte 12"
    assert (error.event_id, error.tenant_id, error.event_type) == (None, None, None)


def test_body_not_json() -> None:
    assert invalid(b"").detail == "body is not JSON: Expecting value at line 1 column 1"
    assert invalid(b"hello").detail == "body is not JSON: Expecting value at line 1 column 1"
    assert invalid(b'{"a": 1,\n}').detail == (
        "body is not JSON: Expecting property name enclosed in double quotes at line 2 column 1"
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_refused(constant: str) -> None:
    body = encode(envelope()).replace(b'"version": 4', b'"version": ' + constant.encode())
    assert invalid(body).detail == f"body is not JSON: {constant} is not a JSON value"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"[]", "an array"),
        (b'"x"', "a string"),
        (b"42", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
def test_body_must_be_a_json_object(body: bytes, kind: str) -> None:
    error = invalid(body)
    assert error.reason == "malformed"
    assert error.detail == f"body is {kind}, not a JSON object"


def test_duplicate_keys_are_refused_but_identity_is_kept() -> None:
    body = encode(envelope()).replace(b'"version": 4', b'"version": 4, "version": 5')
    error = invalid(body)
    assert error.detail == "body has the key 'version' twice in one object"
    assert error.event_id == UUID(EVENT_ID)
    assert error.event_type == "deal.won"


def test_lone_surrogates_are_refused() -> None:
    body = encode(envelope("deal.lost", data={"id": "d-8", "reason": "x"})).replace(b'"x"', b'"\\ud800"')
    error = invalid(body)
    assert error.detail == "body has an unpaired UTF-16 surrogate escape, which is not text"
    assert error.tenant_id == "kueste"


def test_deep_nesting_is_malformed_not_a_crash() -> None:
    assert invalid(b"[" * 100_000 + b"]" * 100_000).detail == "body is not usable JSON: nested too deeply"


# --- envelope problems ----------------------------------------------------------------------------


def test_unknown_event_type() -> None:
    error = invalid(encode(envelope("foo.bar")))
    assert error.reason == "unknown_event_type"
    assert error.detail == "event type 'foo.bar' is not one sevsync handles"
    assert (error.event_id, error.tenant_id, error.event_type) == (UUID(EVENT_ID), "kueste", "foo.bar")


def test_an_outbound_event_type_is_not_handled_inbound() -> None:
    assert invalid(encode(envelope("sync.succeeded"))).reason == "unknown_event_type"


def test_a_broken_envelope_with_an_unknown_type_is_malformed() -> None:
    error = invalid(encode(envelope("foo.bar", version="4")))
    assert error.reason == "malformed"
    assert error.detail == "version: Input should be a valid integer"
    assert error.event_type == "foo.bar"


def test_unknown_type_with_non_object_data_is_malformed() -> None:
    error = invalid(encode(envelope("foo.bar", data=[1])))
    assert error.reason == "malformed"
    assert error.detail.startswith("data: Input should be")


def test_missing_envelope_fields() -> None:
    error = invalid(b"{}")
    assert error.reason == "malformed"
    assert error.detail == (
        "event_id: Field required; event_type: Field required; tenant_id: Field required; "
        "occurred_at: Field required; version: Field required; and 1 more problem"
    )


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"version": "4"}, "version: Input should be a valid integer"),
        ({"version": 4.0}, "version: Input should be a valid integer"),
        ({"version": -1}, "version: Input should be greater than or equal to 0"),
        ({"tenant_id": "a b"}, 'tenant_id: must be 1-64 characters of letters, digits, "_", "." or "-"'),
        ({"tenant_id": "a" * 65}, 'tenant_id: must be 1-64 characters of letters, digits, "_", "." or "-"'),
        (
            {"occurred_at": "2026-06-01T08:00:00"},
            "occurred_at: must be an ISO 8601 date-time with a UTC offset",
        ),
        ({"event_id": "42"}, 'event_id: must be a UUID like "0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10"'),
        ({"event_id": 42}, "event_id: UUID input should be a string, bytes or UUID object"),
        ({"data": None}, "data: Input should be a valid dictionary or instance of Deal"),
        ({"extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)
def test_envelope_field_errors(changes: dict[str, Any], detail: str) -> None:
    error = invalid(encode(envelope(**changes)))
    assert error.reason == "malformed"
    assert error.detail.startswith(detail)


def test_identity_is_reported_only_where_valid() -> None:
    error = invalid(encode(envelope(event_id="not-a-uuid", tenant_id="a b")))
    assert error.event_id is None
    assert error.tenant_id is None
    assert error.event_type == "deal.won"

    document = envelope(version="x")
    document["event_type"] = 7
    error = invalid(encode(document))
    assert error.event_type is None
    assert error.event_id == UUID(EVENT_ID)
    assert error.tenant_id == "kueste"


def test_an_overlong_event_type_is_malformed() -> None:
    error = invalid(encode(envelope("x" * 256)))
    assert error.reason == "malformed"
    assert error.event_type is None
    assert error.detail.startswith("event_type: String should have at most 255 characters")


# --- payload problems -----------------------------------------------------------------------------


def test_payload_errors_carry_their_path() -> None:
    document = envelope()
    document["data"]["lines"][0]["quantity"] = 2.5
    error = invalid(encode(document))
    assert error.reason == "malformed"
    assert error.detail == 'data.lines.0.quantity: must be a decimal string like "2.5", not a number'
    assert error.event_id == UUID(EVENT_ID)


def test_an_invalid_only_line_is_not_also_reported_as_a_missing_line() -> None:
    document = envelope()
    document["data"]["lines"][0]["tax_rate"] = 19
    assert (
        invalid(encode(document)).detail
        == 'data.lines.0.tax_rate: must be a decimal string like "19", not a number'
    )


def test_model_rules_are_reported_at_their_model() -> None:
    document = envelope("payment.received")
    document["data"]["deal_id"] = "d-8"
    assert (
        invalid(encode(document)).detail == "data: exactly one of invoice_id or deal_id must be set, not both"
    )
    document = envelope("customer.created")
    document["data"]["last_name"] = None
    assert invalid(encode(document)).detail == 'data: a customer of kind "person" needs last_name'


def test_at_most_five_problems_are_listed() -> None:
    document = envelope()
    document["data"]["lines"] = [
        {"name": "x", "quantity": n, "unit_net_price": "1.00", "tax_rate": "19"} for n in range(1, 9)
    ]
    detail = invalid(encode(document)).detail
    assert detail.count("must be a decimal string") == 5
    assert detail.endswith("; and 3 more problems")


def test_details_never_echo_the_input() -> None:
    secret = "Geheimweg 7, 10115 Berlin"
    document = envelope("customer.updated")
    document["data"]["address"]["country"] = "Deutschland"
    document["data"]["address"]["street"] = ["not", "a", "string", secret]
    document["data"]["phone"] = {"number": secret}
    document["data"]["note"] = secret
    document["tenant_id"] = secret
    detail = invalid(encode(document)).detail
    assert "Geheim" not in detail
    assert "Deutschland" not in detail
    assert "data.note: Extra inputs are not permitted" in detail


def test_unknown_payload_field_is_refused() -> None:
    document = envelope("deal.lost")
    document["data"]["lost_to"] = "competitor"
    assert invalid(encode(document)).detail == "data.lost_to: Extra inputs are not permitted"


def test_error_string_names_reason_and_detail() -> None:
    assert str(invalid(encode(envelope("foo.bar")))) == (
        "unknown_event_type: event type 'foo.bar' is not one sevsync handles"
    )


# --- InboundEvent built by hand -------------------------------------------------------------------


def test_inbound_event_refuses_data_of_the_wrong_class() -> None:
    good = parse_inbound(encode(envelope("customer.deleted")))
    fields = dict(good)
    fields["event_type"] = "product.created"
    with pytest.raises(ValidationError, match=r"product\.created carries a Product, not a EntityRef"):
        InboundEvent.model_validate(fields)
    fields["event_type"] = "foo.bar"
    with pytest.raises(ValidationError, match="not one sevsync handles"):
        InboundEvent.model_validate(fields)


# --- robustness -----------------------------------------------------------------------------------


@settings(max_examples=300)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_give_invalid_event_never_a_crash(body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_inbound(body)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    event_type=st.sampled_from([*INBOUND_EVENT_TYPES, "foo.bar"]),
    field=st.sampled_from(["event_id", "tenant_id", "occurred_at", "version", "data"]),
    value=_json_values,
)
def test_arbitrary_field_values_give_invalid_event_or_an_event(
    event_type: str, field: str, value: Any
) -> None:
    document = envelope(event_type)
    document[field] = value
    outcome: InboundEvent | InvalidEvent
    try:
        outcome = parse_inbound(encode(document))
    except InvalidEvent as error:
        outcome = error
    if isinstance(outcome, InvalidEvent):
        assert outcome.reason in {"malformed", "unknown_event_type"}
        assert outcome.detail
    else:
        assert outcome.event_type == event_type
