"""Mapping a CRM product to a sevDesk Part (pure): business key, unit, exact amounts, status, stock."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from sevsync.sync import part_mapping as pm
from sevsync_events.payloads import Product

# An exact decimal as sevDesk takes it: plain digits, no exponent, no float noise (at most cents).
PLAIN_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")
PIECE = {"id": 1, "objectName": "Unity"}


def product(**overrides: Any) -> Product:
    data: dict[str, Any] = {
        "id": "prod-1",
        "sku": "SKU-100",
        "name": "Consulting hour",
        "description": "Senior consultant, per hour",
        "net_price": "120.00",
        "tax_rate": "19",
        "unit": "hour",
        "active": True,
    }
    data.update(overrides)
    return Product.model_validate(data)


def _floats_in(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats_in(v)]
    if isinstance(value, list | tuple):
        return [f for v in value for f in _floats_in(v)]
    return []


def test_part_body() -> None:
    body = pm.part_body(product(), {"hour": "7"})

    amounts = {key: body.pop(key) for key in ("taxRate", "price", "priceNet", "priceGross")}
    assert body == {
        "name": "Consulting hour",
        "partNumber": "SKU-100",
        "text": "Senior consultant, per hour",
        "unity": {"id": 7, "objectName": "Unity"},
        "status": 100,
    }
    assert all(isinstance(text, str) and PLAIN_AMOUNT.fullmatch(text) for text in amounts.values()), amounts
    assert {key: Decimal(text) for key, text in amounts.items()} == {
        "taxRate": Decimal("19"),
        "price": Decimal("120.00"),
        "priceNet": Decimal("120.00"),
        "priceGross": Decimal("142.80"),
    }
    assert _floats_in(body) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "SKU-100"),
        ({"sku": None}, "prod-1"),
        ({"sku": "   "}, "prod-1"),
        ({"id": "p/2", "sku": None}, "p/2"),
    ],
)
def test_part_number_is_the_sku_or_the_crm_id(overrides: dict[str, Any], expected: str) -> None:
    item = product(**overrides)
    assert pm.part_number(item) == expected
    assert pm.part_body(item, {})["partNumber"] == expected


@pytest.mark.parametrize(
    ("unit", "units", "unity_id"),
    [
        ("hour", {"hour": "7", "kg": "3"}, 7),
        ("kg", {"hour": "7", "kg": "3"}, 3),
        ("litre", {"hour": "7"}, 1),  # not mapped by the tenant: the piece
        (None, {"hour": "7"}, 1),
        ("hour", {}, 1),
    ],
)
def test_unit_is_mapped_with_the_piece_as_fallback(
    unit: str | None, units: dict[str, str], unity_id: int
) -> None:
    body = pm.part_body(product(unit=unit), units)
    assert body["unity"] == {"id": unity_id, "objectName": "Unity"}


@pytest.mark.parametrize("net", ["0.10", "0.01", "1234567.89", "999999999999.99", "19.99", "0.00", "100"])
def test_prices_are_exact_decimal_strings(net: str) -> None:
    body = pm.part_body(product(net_price=net), {})

    for key in ("price", "priceNet"):
        assert isinstance(body[key], str)
        assert PLAIN_AMOUNT.fullmatch(body[key]), body[key]
        assert Decimal(body[key]) == Decimal(net)
    assert PLAIN_AMOUNT.fullmatch(body["priceGross"]), body["priceGross"]


def test_price_keeps_every_digit() -> None:
    # float("1234567.89") * 1.19 == 1469135.7890999997: only decimals give the exact cents.
    body = pm.part_body(product(net_price="1234567.89"), {})
    assert body["price"] == "1234567.89"
    assert body["priceGross"] == "1469135.79"


@pytest.mark.parametrize("rate", ["19", "7", "0", "19.00", "7.0"])
def test_tax_rate_is_an_exact_decimal_string(rate: str) -> None:
    text = pm.part_body(product(tax_rate=rate), {})["taxRate"]
    assert isinstance(text, str)
    assert PLAIN_AMOUNT.fullmatch(text), text
    assert Decimal(text) == Decimal(rate)


@pytest.mark.parametrize(
    ("net", "rate", "gross"),
    [
        ("0.05", "19", "0.06"),  # 0.0595
        ("120.00", "19", "142.80"),
        ("0.10", "7", "0.11"),  # 0.107
        ("1.50", "19", "1.79"),  # 1.785: half up (half-even would give 1.78)
        ("1.50", "7", "1.61"),  # 1.605: half up (half-even would give 1.60)
        ("10.00", "0", "10.00"),
        ("0.00", "19", "0.00"),
        ("1234567.89", "19", "1469135.79"),  # 1469135.7891
    ],
)
def test_gross_is_net_plus_tax_rounded_half_up_to_cents(net: str, rate: str, gross: str) -> None:
    assert pm.gross_price(Decimal(net), Decimal(rate)) == Decimal(gross)
    assert pm.gross_price(Decimal(net), Decimal(rate)).as_tuple().exponent == -2

    body = pm.part_body(product(net_price=net, tax_rate=rate), {})
    assert Decimal(body["priceGross"]) == Decimal(gross)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.10"), "0.1"),
        (Decimal("142.80"), "142.8"),
        (Decimal("120.00"), "120"),
        (Decimal("100"), "100"),
        (Decimal("0.00"), "0"),
        (Decimal("1E+2"), "100"),
        (Decimal("1234567.89"), "1234567.89"),
    ],
)
def test_decimal_text_has_no_exponent_and_no_float_noise(value: Decimal, text: str) -> None:
    assert pm.decimal_text(value) == text


@pytest.mark.parametrize(("active", "status"), [(True, 100), (False, 50)])
def test_status_follows_active(active: bool, status: int) -> None:
    assert pm.part_body(product(active=active), {})["status"] == status


def test_stock_is_sent_on_create_only() -> None:
    item = product()

    update = pm.part_body(item, {})
    create = pm.part_create_body(item, {})

    assert "stock" not in update
    assert create == {**update, "stock": 0}


def test_missing_description_is_sent_as_null() -> None:
    assert pm.part_body(product(description=None), {})["text"] is None


def test_the_default_unit_is_the_piece() -> None:
    assert pm.part_body(product(unit=None), {})["unity"] == PIECE
