"""The field types and payload models of the event contract: every strictness rule has a test here."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from sevsync_events.countries import COUNTRY_CODES
from sevsync_events.envelope import Envelope
from sevsync_events.errors import format_validation_error
from sevsync_events.outbound import CustomerLinked, ImportedCustomer, ImportedProduct, SyncResult
from sevsync_events.payloads import (
    AmountDiscount,
    Customer,
    Deal,
    DealClosed,
    Invoice,
    InvoiceCancelled,
    Payment,
    PercentDiscount,
    Product,
)
from sevsync_events.registry import (
    ENTITY_TYPE_OF,
    INBOUND_EVENT_TYPES,
    INBOUND_PAYLOADS,
    OUTBOUND_EVENT_TYPES,
    OUTBOUND_PAYLOADS,
    SYNC_FAILED,
    SYNC_SKIPPED,
    SYNC_SUCCEEDED,
    sync_event_type,
)
from sevsync_events.types import (
    AwareDatetime,
    CountryCode,
    CurrencyCode,
    DecimalString,
    Email,
    EntityId,
    IsoDate,
    Money,
    Name,
    NonNegativeMoney,
    OptionalText,
    PositiveMoney,
    PositiveQuantity,
    ProductTaxRate,
    Quantity,
    Rate,
    SevdeskId,
    TenantId,
    Version,
    is_supported_currency,
)


def problem(adapter: TypeAdapter[Any], json_text: str) -> str:
    """The formatted error for validating `json_text`, which must fail."""
    with pytest.raises(ValidationError) as info:
        adapter.validate_json(json_text)
    return format_validation_error(info.value)


def model_problem(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(data))
    return format_validation_error(info.value)


MONEY = TypeAdapter(Money)
NON_NEGATIVE_MONEY = TypeAdapter(NonNegativeMoney)
POSITIVE_MONEY = TypeAdapter(PositiveMoney)
QUANTITY = TypeAdapter(Quantity)
POSITIVE_QUANTITY = TypeAdapter(PositiveQuantity)
RATE = TypeAdapter(Rate)
PRODUCT_TAX_RATE = TypeAdapter(ProductTaxRate)


# --- decimals -------------------------------------------------------------------------------------


def test_money_is_read_from_a_string_and_written_back_as_one() -> None:
    value = MONEY.validate_json('"49.90"')
    assert value == Decimal("49.90")
    assert MONEY.dump_json(value) == b'"49.90"'
    assert MONEY.dump_python(value) == Decimal("49.90")


def test_money_as_a_json_float_is_refused_with_a_clear_message() -> None:
    assert problem(MONEY, "49.9") == 'must be a decimal string like "49.90", not a number'


def test_money_as_a_json_integer_is_refused() -> None:
    assert problem(MONEY, "49") == 'must be a decimal string like "49.90", not a number'


def test_a_boolean_is_not_money() -> None:
    assert problem(MONEY, "true") == 'must be a decimal string like "49.90", not a boolean'


@pytest.mark.parametrize(
    "text", ["1e3", "1E3", "+1", " 1", "1 ", "1,50", "1.", ".5", "", "--1", "1_000", "NaN"]
)
def test_money_must_be_plain_decimal_notation(text: str) -> None:
    assert "must be a decimal string" in problem(MONEY, json.dumps(text))


def test_money_has_at_most_two_decimal_places() -> None:
    assert problem(MONEY, '"1.234"') == "has 3 decimal places, at most 2 allowed"
    assert MONEY.validate_json('"1.2"') == Decimal("1.2")


def test_decimals_must_not_have_leading_zeros() -> None:
    assert problem(MONEY, '"049.90"') == "must not have leading zeros"
    assert MONEY.validate_json('"0.90"') == Decimal("0.90")


def test_money_is_bounded() -> None:
    assert MONEY.validate_json('"999999999999.99"') == Decimal("999999999999.99")
    assert "too large" in problem(MONEY, '"1000000000000"')


def test_money_may_be_negative_but_non_negative_money_may_not() -> None:
    assert MONEY.validate_json('"-5.00"') == Decimal("-5.00")
    assert problem(NON_NEGATIVE_MONEY, '"-5.00"') == "must not be negative"
    assert NON_NEGATIVE_MONEY.validate_json('"0"') == 0


def test_negative_zero_money_is_plain_zero() -> None:
    assert MONEY.dump_json(MONEY.validate_json('"-0.00"')) == b'"0.00"'


def test_positive_money_refuses_zero() -> None:
    assert problem(POSITIVE_MONEY, '"0.00"') == "must be greater than 0"
    assert POSITIVE_MONEY.validate_json('"0.01"') == Decimal("0.01")


def test_python_callers_may_pass_decimals_which_are_checked_the_same_way() -> None:
    assert MONEY.validate_python(Decimal("12.5")) == Decimal("12.5")
    assert MONEY.dump_json(MONEY.validate_python(Decimal("1E+3"))) == b'"1000"'
    with pytest.raises(ValidationError, match="finite"):
        MONEY.validate_python(Decimal("NaN"))
    with pytest.raises(ValidationError, match="decimal places"):
        MONEY.validate_python(Decimal("0.001"))
    with pytest.raises(ValidationError, match="not a number"):
        MONEY.validate_python(12.5)


def test_quantity_allows_four_places_and_no_sign() -> None:
    assert QUANTITY.validate_json('"2.5"') == Decimal("2.5")
    assert QUANTITY.validate_json('"0.0001"') == Decimal("0.0001")
    assert problem(QUANTITY, '"0.00001"') == "has 5 decimal places, at most 4 allowed"
    assert problem(QUANTITY, '"-1"') == "must not be negative"
    assert problem(QUANTITY, "2.5") == 'must be a decimal string like "2.5", not a number'


def test_positive_quantity_refuses_zero() -> None:
    assert problem(POSITIVE_QUANTITY, '"0.0000"') == "must be greater than 0"


def test_rates_are_percentages_from_0_to_100() -> None:
    assert RATE.validate_json('"0"') == 0
    assert RATE.validate_json('"19.5"') == Decimal("19.5")
    assert RATE.validate_json('"100.00"') == 100
    assert problem(RATE, '"100.01"') == "must be at most 100"
    assert problem(RATE, '"101"') == "must be at most 100"
    assert problem(RATE, '"-1"') == "must not be negative"
    assert problem(RATE, "19") == 'must be a decimal string like "19", not a number'


@pytest.mark.parametrize("text", ["0", "7", "19", "19.0", "7.00"])
def test_product_tax_rates_sevdesk_accepts(text: str) -> None:
    assert PRODUCT_TAX_RATE.validate_json(json.dumps(text)) == Decimal(text)


@pytest.mark.parametrize("text", ["16", "5", "19.5", "100"])
def test_other_product_tax_rates_are_refused(text: str) -> None:
    assert problem(PRODUCT_TAX_RATE, json.dumps(text)) == "must be one of 0, 7, 19"


_DECIMAL_RULES = {
    name: next(meta for meta in get_args(alias) if isinstance(meta, DecimalString))
    for name, alias in {
        "Money": Money,
        "NonNegativeMoney": NonNegativeMoney,
        "PositiveMoney": PositiveMoney,
        "Quantity": Quantity,
        "PositiveQuantity": PositiveQuantity,
        "Rate": Rate,
        "ProductTaxRate": ProductTaxRate,
    }.items()
}

# Digit-heavy strings around the interesting edges (zeros, dots, signs, lengths).
_decimal_like = st.text(alphabet="0012345789.-e", max_size=16) | st.from_regex(
    r"\A-?[0-9]{1,14}(\.[0-9]{1,6})?\Z"
)


@given(text=_decimal_like)
def test_the_published_pattern_accepts_exactly_what_the_validator_accepts(text: str) -> None:
    for name, rule in _DECIMAL_RULES.items():
        try:
            rule.validate(text)
            accepted = True
        except ValueError:  # PydanticCustomError is a ValueError
            accepted = False
        assert accepted == (re.search(rule.pattern, text) is not None), (name, text)


@given(value=st.decimals(min_value=-(10**12) + 1, max_value=10**12 - 1, places=2, allow_nan=False))
def test_any_money_value_survives_a_json_round_trip(value: Decimal) -> None:
    dumped = MONEY.dump_json(MONEY.validate_python(value))
    assert MONEY.validate_json(dumped) == value


# --- codes and names ------------------------------------------------------------------------------

COUNTRY = TypeAdapter(CountryCode)
TENANT = TypeAdapter(TenantId)
ENTITY_ID = TypeAdapter(EntityId)
SEVDESK_ID = TypeAdapter(SevdeskId)
CURRENCY = TypeAdapter(CurrencyCode)


def test_country_codes_are_the_assigned_ones() -> None:
    assert len(COUNTRY_CODES) == 250  # 249 assigned + XK (Kosovo)
    assert {"DE", "AT", "CH", "GB", "US", "XK"} <= COUNTRY_CODES
    assert not {"XX", "UK", "EL", "EU", "ZZ"} & COUNTRY_CODES
    assert COUNTRY.validate_json('"DE"') == "DE"


def test_an_unassigned_country_code_is_refused() -> None:
    assert problem(COUNTRY, '"XX"') == "'XX' is not an assigned ISO 3166-1 alpha-2 country code"


@pytest.mark.parametrize("text", ['"de"', '"De"', '"DEU"', '"D"', '""', "49", "null"])
def test_a_country_must_be_two_uppercase_letters(text: str) -> None:
    assert problem(COUNTRY, text) == 'must be an uppercase ISO 3166-1 alpha-2 country code like "DE"'


@pytest.mark.parametrize("text", ["acme", "a", "A-b_c.9", "a" * 64])
def test_valid_tenant_ids(text: str) -> None:
    assert TENANT.validate_json(json.dumps(text)) == text


@pytest.mark.parametrize("text", ["", "a" * 65, "a b", "acme/x", "äcme", "acme\n"])
def test_invalid_tenant_ids(text: str) -> None:
    assert problem(TENANT, json.dumps(text)) == 'must be 1-64 characters of letters, digits, "_", "." or "-"'


def test_a_tenant_id_must_be_a_string() -> None:
    assert "not a number" in problem(TENANT, "42")


@pytest.mark.parametrize("text", ["cust-1001", "x", "a b", "Kunde Nr. 7", "x" * 200])
def test_valid_entity_ids(text: str) -> None:
    assert ENTITY_ID.validate_json(json.dumps(text)) == text


@pytest.mark.parametrize("text", ["", " x", "x ", "x\ny", "x\ty", "x" * 201])
def test_invalid_entity_ids(text: str) -> None:
    assert "1-200 characters" in problem(ENTITY_ID, json.dumps(text))


def test_sevdesk_ids_are_strings_of_digits() -> None:
    assert SEVDESK_ID.validate_json('"12345"') == "12345"
    for text in ['"abc"', '"0123"', '""', '"12 3"']:
        assert problem(SEVDESK_ID, text) == 'must be a sevDesk id: a string of digits like "12345"'
    assert "not a number" in problem(SEVDESK_ID, "12345")


def test_any_iso_shaped_currency_is_valid_but_only_eur_is_supported() -> None:
    assert CURRENCY.validate_json('"USD"') == "USD"
    assert is_supported_currency("EUR")
    assert not is_supported_currency("USD")
    assert "uppercase ISO 4217" in problem(CURRENCY, '"eur"')
    assert "uppercase ISO 4217" in problem(CURRENCY, '"EURO"')


def test_names_are_trimmed_and_must_not_be_blank() -> None:
    name = TypeAdapter(Name)
    assert name.validate_json('"  Acme GmbH "') == "Acme GmbH"
    assert problem(name, '"   "') == "must not be empty or blank"
    assert problem(name, "null") == "must be a string, not null"
    assert problem(name, json.dumps("x" * 256)) == "must be at most 255 characters"


def test_optional_text_is_trimmed_and_blank_means_none() -> None:
    text = TypeAdapter(OptionalText)
    assert text.validate_json('"  hour "') == "hour"
    assert text.validate_json('"  "') is None
    assert text.validate_json("null") is None
    assert problem(text, "5") == "must be a string, not a number"


def test_email_needs_an_at_sign() -> None:
    email = TypeAdapter(Email)
    assert email.validate_json('" billing@acme.example "') == "billing@acme.example"
    assert email.validate_json('""') is None
    assert "e-mail address" in problem(email, '"billing.acme.example"')
    assert "e-mail address" in problem(email, '"a b@acme.example"')


# --- dates, times, versions -----------------------------------------------------------------------

ISO_DATE = TypeAdapter(IsoDate)
AWARE = TypeAdapter(AwareDatetime)
VERSION = TypeAdapter(Version)


def test_dates_are_iso_strings() -> None:
    assert ISO_DATE.validate_json('"2026-11-20"') == date(2026, 11, 20)
    assert ISO_DATE.dump_json(date(2026, 11, 20)) == b'"2026-11-20"'


def test_an_impossible_date_is_refused() -> None:
    assert problem(ISO_DATE, '"2026-13-01"') == "is not a valid calendar date"
    assert problem(ISO_DATE, '"2026-02-29"') == "is not a valid calendar date"


@pytest.mark.parametrize("text", ['"20.11.2026"', '"2026-11-20T00:00:00"', '"2026-1-2"', "20261120", '""'])
def test_other_date_spellings_are_refused(text: str) -> None:
    assert problem(ISO_DATE, text) == 'must be an ISO date string "YYYY-MM-DD" like "2026-11-20"'


def test_python_dates_are_accepted_but_datetimes_are_not() -> None:
    assert ISO_DATE.validate_python(date(2026, 1, 2)) == date(2026, 1, 2)
    with pytest.raises(ValidationError):
        ISO_DATE.validate_python(datetime(2026, 1, 2, tzinfo=UTC))


def test_timestamps_carry_an_offset() -> None:
    assert AWARE.validate_json('"2026-11-20T10:15:00Z"') == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    plus_one = AWARE.validate_json('"2026-11-20T11:15:00.5+01:00"')
    assert plus_one.utcoffset() == timedelta(hours=1)
    assert AWARE.dump_json(datetime(2026, 11, 20, 10, 15, tzinfo=UTC)) == b'"2026-11-20T10:15:00Z"'


@pytest.mark.parametrize(
    "text",
    ['"2026-11-20T10:15:00"', '"2026-11-20"', "1763633700", '"20.11.2026 10:15"', '"2026-11-20 10:15:00Z"'],
)
def test_naive_or_non_iso_timestamps_are_refused(text: str) -> None:
    assert "must be an ISO 8601 date-time with a UTC offset" in problem(AWARE, text)


def test_an_impossible_timestamp_is_refused() -> None:
    assert problem(AWARE, '"2026-11-20T25:00:00Z"') == "is not a valid date-time"


def test_naive_python_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="UTC offset"):
        AWARE.validate_python(datetime(2026, 1, 1))  # naive on purpose
    assert AWARE.validate_python(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))).hour == 0


@pytest.mark.parametrize("text", ['"7"', "7.0", "true", "-1", str(2**63)])
def test_versions_are_non_negative_json_integers(text: str) -> None:
    with pytest.raises(ValidationError):
        VERSION.validate_json(text)


def test_version_bounds() -> None:
    assert VERSION.validate_json("0") == 0
    assert VERSION.validate_json(str(2**63 - 1)) == 2**63 - 1


# --- payloads -------------------------------------------------------------------------------------


def customer(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "c-77",
        "kind": "company",
        "company_name": "Nordlicht Werkstatt GmbH",
        "first_name": "Jana",
        "last_name": "Petersen",
        "customer_number": "K-77",
        "email": "rechnung@nordlicht.example",
        "phone": "+49 40 555123",
        "address": {"street": "Elbchaussee 12", "zip": "22763", "city": "Hamburg", "country": "DE"},
        "vat_id": "DE999999999",
        "tax_number": None,
        "sevdesk_id": None,
        "buyer_reference": "04011000-12345-67",
        "e_invoice": True,
    }
    data.update(changes)
    return data


def product(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "p-1", "name": "Workshop day", "net_price": "950.00", "tax_rate": "19"}
    data.update(changes)
    return data


def deal_line(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Workshop day",
        "quantity": "2",
        "unit_net_price": "950.00",
        "tax_rate": "19",
    }
    data.update(changes)
    return data


def deal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "d-5",
        "number": "D-5",
        "customer": customer(),
        "currency": "EUR",
        "date": "2026-03-02",
        "lines": [deal_line()],
    }
    data.update(changes)
    return data


def payment(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "pay-1", "invoice_id": "inv-1", "amount": "100.00", "date": "2026-03-02"}
    data.update(changes)
    return data


def test_a_full_customer_parses() -> None:
    parsed = Customer.model_validate_json(json.dumps(customer()))
    assert parsed.address is not None
    assert parsed.address.country == "DE"
    assert parsed.model_dump(mode="json") == customer()


def test_a_company_needs_company_name() -> None:
    assert (
        model_problem(Customer, customer(company_name=None))
        == 'a customer of kind "company" needs company_name'
    )


def test_a_person_needs_last_name() -> None:
    data = customer(kind="person", company_name=None, last_name=None)
    assert model_problem(Customer, data) == 'a customer of kind "person" needs last_name'


def test_a_person_with_only_a_last_name_is_enough() -> None:
    parsed = Customer.model_validate_json(json.dumps({"id": "c-1", "kind": "person", "last_name": "Ode"}))
    assert parsed.email is None
    assert parsed.address is None


def test_a_blank_company_name_counts_as_missing() -> None:
    assert model_problem(Customer, customer(company_name="  ")) == "company_name: must not be empty or blank"


def test_an_unknown_kind_is_refused() -> None:
    assert model_problem(Customer, customer(kind="team")).startswith(
        "kind: Input should be 'company' or 'person'"
    )


def test_an_address_needs_a_country() -> None:
    data = customer(address={"street": "Elbchaussee 12", "city": "Hamburg"})
    assert model_problem(Customer, data) == "address.country: Field required"


def test_unknown_fields_are_refused() -> None:
    assert model_problem(Customer, customer(nickname="x")) == "nickname: Extra inputs are not permitted"


def test_a_customer_needs_an_id() -> None:
    assert model_problem(Customer, customer(id=None)).startswith("id: must be 1-200 characters")


def test_payloads_are_immutable() -> None:
    parsed = Customer.model_validate_json(json.dumps(customer()))
    with pytest.raises(ValidationError):
        parsed.company_name = "Other"  # type: ignore[misc]


def test_product_defaults_and_rules() -> None:
    parsed = Product.model_validate_json(json.dumps(product()))
    assert parsed.active is True
    assert parsed.sku is None
    assert parsed.unit is None
    assert parsed.tax_rate == 19
    assert model_problem(Product, product(tax_rate="16")) == "tax_rate: must be one of 0, 7, 19"
    assert model_problem(Product, product(net_price=950)).startswith("net_price: must be a decimal string")
    assert model_problem(Product, product(net_price="-1.00")) == "net_price: must not be negative"


def test_product_active_must_be_a_json_boolean() -> None:
    assert model_problem(Product, product(active="false")) == "active: Input should be a valid boolean"
    assert model_problem(Product, product(active=0)) == "active: Input should be a valid boolean"


def test_product_sevdesk_id_is_a_string_of_digits() -> None:
    assert Product.model_validate_json(json.dumps(product(sevdesk_id="4711"))).sevdesk_id == "4711"
    assert "sevDesk id" in model_problem(Product, product(sevdesk_id=4711))


def test_a_deal_parses_with_optional_parts_defaulted() -> None:
    parsed = Deal.model_validate_json(json.dumps(deal()))
    assert parsed.discount is None
    assert parsed.fees == ()
    assert parsed.tax_type is None
    assert parsed.lines[0].quantity == 2


def test_a_deal_needs_at_least_one_line() -> None:
    assert model_problem(Deal, deal(lines=[])).startswith("lines: Tuple should have at least 1 item")


def test_deal_line_quantity_must_be_positive() -> None:
    assert (
        model_problem(Deal, deal(lines=[deal_line(quantity="0")]))
        == "lines.0.quantity: must be greater than 0"
    )
    assert (
        model_problem(Deal, deal(lines=[deal_line(quantity="-1")]))
        == "lines.0.quantity: must not be negative"
    )


def test_deal_line_discount_percent_is_at_most_100() -> None:
    assert (
        model_problem(Deal, deal(lines=[deal_line(discount_percent="100.5")]))
        == "lines.0.discount_percent: must be at most 100"
    )


def test_deal_discount_is_chosen_by_its_type() -> None:
    percent = Deal.model_validate_json(json.dumps(deal(discount={"type": "percent", "value": "5"})))
    amount = Deal.model_validate_json(json.dumps(deal(discount={"type": "amount", "value": "50.00"})))
    assert isinstance(percent.discount, PercentDiscount)
    assert isinstance(amount.discount, AmountDiscount)
    assert "does not match any of the expected tags" in model_problem(
        Deal, deal(discount={"type": "gift", "value": "5"})
    )
    assert model_problem(Deal, deal(discount={"type": "percent", "value": "120"})) == (
        "discount.percent.value: must be at most 100"
    )


def test_tax_type_is_one_of_the_contract_cases() -> None:
    parsed = Deal.model_validate_json(json.dumps(deal(tax_type="eu_reverse_charge")))
    assert parsed.tax_type == "eu_reverse_charge"
    assert model_problem(Deal, deal(tax_type="reduced")).startswith("tax_type: Input should be")


def test_a_deal_customer_is_validated_as_a_customer() -> None:
    data = deal(customer=customer(address={"country": "XX"}))
    assert model_problem(Deal, data) == (
        "customer.address.country: 'XX' is not an assigned ISO 3166-1 alpha-2 country code"
    )


def test_invoice_lines_may_be_negative_and_need_an_accounting_code() -> None:
    data = {
        "id": "inv-1",
        "number": "2026-0001",
        "date": "2026-03-02",
        "currency": "EUR",
        "lines": [{"name": "Credit", "net_amount": "-20.00", "tax_rate": "19", "accounting_code": "8400"}],
    }
    parsed = Invoice.model_validate_json(json.dumps(data))
    assert parsed.lines[0].net_amount == Decimal("-20.00")
    data["lines"] = [{"name": "Credit", "net_amount": "-20.00", "tax_rate": "19"}]
    assert model_problem(Invoice, data) == "lines.0.accounting_code: Field required"


def test_invoice_cancelled_needs_number_and_date() -> None:
    assert model_problem(InvoiceCancelled, {"id": "inv-1"}) == "number: Field required; date: Field required"


def test_deal_closed_reason_is_optional() -> None:
    assert DealClosed.model_validate_json('{"id": "d-5"}').reason is None


def test_a_payment_names_exactly_one_target() -> None:
    assert Payment.model_validate_json(json.dumps(payment())).invoice_id == "inv-1"
    by_deal = Payment.model_validate_json(json.dumps(payment(invoice_id=None, deal_id="d-5")))
    assert by_deal.deal_id == "d-5"
    assert model_problem(Payment, payment(deal_id="d-5")) == (
        "exactly one of invoice_id or deal_id must be set, not both"
    )
    assert model_problem(Payment, payment(invoice_id=None)) == (
        "exactly one of invoice_id or deal_id must be set, not neither"
    )


def test_a_payment_amount_is_positive() -> None:
    assert model_problem(Payment, payment(amount="0.00")) == "amount: must be greater than 0"
    assert model_problem(Payment, payment(amount="-5.00")) == "amount: must not be negative"


# --- outbound -------------------------------------------------------------------------------------


def test_imported_customer_has_no_crm_id_but_a_sevdesk_id() -> None:
    data = customer(id=None, sevdesk_id="1234")
    parsed = ImportedCustomer.model_validate_json(json.dumps(data))
    assert parsed.model_dump(mode="json")["id"] is None
    assert next(iter(parsed.model_dump())) == "id"  # same field order as Customer
    assert model_problem(ImportedCustomer, customer(id=None)) == (
        'sevdesk_id: must be a sevDesk id: a string of digits like "12345", not null'
    )
    assert model_problem(ImportedCustomer, customer(sevdesk_id="1234")) == "id: Input should be null"
    # The name rules of Customer hold for imports too.
    assert "needs company_name" in model_problem(
        ImportedCustomer, customer(id=None, sevdesk_id="1", company_name=None)
    )


def test_imported_product_has_no_crm_id_but_a_sevdesk_id() -> None:
    parsed = ImportedProduct.model_validate_json(json.dumps(product(id=None, sevdesk_id="99")))
    assert parsed.id is None
    assert "sevdesk_id" in model_problem(ImportedProduct, product(id=None))


def test_sync_result_serializes_to_plain_json() -> None:
    event_id = uuid4()
    result = SyncResult(
        source_event_id=event_id,
        source_event_type="deal.won",
        entity_type="deal",
        entity_id="d-5",
        status="succeeded",
        sevdesk_object="Invoice",
        sevdesk_id="555",
        sevdesk_number="RE-1001",
    )
    assert result.model_dump(mode="json") == {
        "source_event_id": str(event_id),
        "source_event_type": "deal.won",
        "entity_type": "deal",
        "entity_id": "d-5",
        "status": "succeeded",
        "reason": None,
        "sevdesk_object": "Invoice",
        "sevdesk_id": "555",
        "sevdesk_number": "RE-1001",
        "error": None,
    }


def test_sync_result_status_is_a_final_outcome() -> None:
    data = {"source_event_id": None, "source_event_type": None, "status": "retrying"}
    assert model_problem(SyncResult, data).startswith("status: Input should be")


def test_sync_event_type_for_each_status() -> None:
    assert sync_event_type("succeeded") == SYNC_SUCCEEDED
    assert sync_event_type("skipped") == SYNC_SKIPPED
    assert {sync_event_type(status) for status in ("failed", "dead", "parked")} == {SYNC_FAILED}


def test_customer_linked() -> None:
    linked = CustomerLinked(customer_id="c-77", sevdesk_contact_id="1234", customer_number="K-77")
    assert json.loads(linked.model_dump_json()) == {
        "customer_id": "c-77",
        "sevdesk_contact_id": "1234",
        "customer_number": "K-77",
    }


# --- envelope -------------------------------------------------------------------------------------


def test_new_envelope_fills_id_and_time() -> None:
    linked = CustomerLinked(customer_id="c-77", sevdesk_contact_id="1234", customer_number="K-77")
    before = datetime.now(UTC)
    envelope = Envelope.new("customer.linked", "acme", 3, linked)
    assert envelope.event_id.version == 4
    assert before <= envelope.occurred_at <= datetime.now(UTC)
    assert envelope.data is linked
    fixed = UUID("0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10")
    assert (
        Envelope[CustomerLinked].new("customer.linked", "acme", 3, linked, event_id=fixed).event_id == fixed
    )


def test_envelope_json_is_compact_and_round_trips() -> None:
    envelope = Envelope.new(
        "customer.linked",
        "acme",
        3,
        CustomerLinked(customer_id="c-77", sevdesk_contact_id="1234", customer_number="K-77"),
    )
    body = envelope.to_json_bytes()
    assert b" " not in body
    document = json.loads(body)
    assert document["data"]["sevdesk_contact_id"] == "1234"
    assert document["occurred_at"].endswith("Z")
    assert Envelope[CustomerLinked].model_validate_json(body) == envelope


def test_envelope_refuses_bad_tenant_and_version() -> None:
    linked = CustomerLinked(customer_id="c-77", sevdesk_contact_id="1234", customer_number="K-77")
    with pytest.raises(ValidationError, match="1-64 characters"):
        Envelope.new("customer.linked", "a b", 3, linked)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Envelope.new("customer.linked", "acme", -1, linked)


@pytest.mark.parametrize(
    "text",
    [
        "{0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10}",
        "urn:uuid:0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10",
        "0b6f0c7e6f1a4c779a636d2f3c1f5d10",
        "not-a-uuid",
    ],
)
def test_event_ids_must_be_hyphenated_uuids(text: str) -> None:
    document = {
        "event_id": text,
        "event_type": "customer.linked",
        "tenant_id": "acme",
        "occurred_at": "2026-11-20T10:15:00Z",
        "version": 1,
        "data": {"customer_id": "c", "sevdesk_contact_id": "1", "customer_number": "K"},
    }
    assert model_problem(Envelope[CustomerLinked], document).startswith("event_id: must be a UUID like")


def test_envelope_refuses_extra_fields() -> None:
    document = {
        "event_id": "0b6f0c7e-6f1a-4c77-9a63-6d2f3c1f5d10",
        "event_type": "customer.deleted",
        "tenant_id": "acme",
        "occurred_at": "2026-11-20T10:15:00Z",
        "version": 1,
        "data": {"customer_id": "c", "sevdesk_contact_id": "1", "customer_number": "K"},
        "priority": 5,
    }
    assert model_problem(Envelope[CustomerLinked], document) == "priority: Extra inputs are not permitted"


# --- registry -------------------------------------------------------------------------------------


def test_catalogue_is_complete_and_consistent() -> None:
    assert INBOUND_EVENT_TYPES == (
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "product.created",
        "product.updated",
        "deal.opened",
        "deal.updated",
        "deal.won",
        "deal.lost",
        "deal.cancelled",
        "invoice.issued",
        "invoice.cancelled",
        "payment.received",
    )
    assert OUTBOUND_EVENT_TYPES == (
        "sync.succeeded",
        "sync.skipped",
        "sync.failed",
        "customer.linked",
        "contact.imported",
        "part.imported",
        "contact.changed",
        "part.changed",
        "document.status_changed",
        "link.broken",
    )
    assert set(ENTITY_TYPE_OF) == set(INBOUND_PAYLOADS)
    assert not set(INBOUND_PAYLOADS) & set(OUTBOUND_PAYLOADS)
    assert {
        event_type: ENTITY_TYPE_OF[event_type] for event_type in ("invoice.cancelled", "payment.received")
    } == {
        "invoice.cancelled": "invoice",
        "payment.received": "payment",
    }
    assert {ENTITY_TYPE_OF[t] for t in INBOUND_EVENT_TYPES if t.startswith("deal.")} == {"deal"}
