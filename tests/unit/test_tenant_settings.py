"""TenantSettings (CONTRACT section 5) and how `sevsync tenant settings` options become changes."""

from __future__ import annotations

import argparse
import copy
from datetime import date
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from sevsync.cli import build_parser
from sevsync.cli.errors import CliError
from sevsync.cli.tenant_settings import settings_changes
from sevsync.tenants.settings import DEFAULT_VOUCHER_DUE_DAYS, TAX_TYPES, TaxType, TenantSettings


def _args(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(["tenant", "settings", "acme", *options])


def _changes(*options: str, current: dict[str, Any] | None = None) -> dict[str, Any]:
    return settings_changes(
        _args(*options), current if current is not None else TenantSettings().model_dump()
    )


# --- TenantSettings ------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = TenantSettings()

    assert settings.model_dump() == {
        "auto_sync_customers": True,
        "auto_sync_products": True,
        "small_business": False,
        "small_business_until": None,
        "default_tax_type": "standard",
        "contact_person_id": None,
        "units": {},
        "voucher_due_days": 14,
        "cost_centre_id": None,
        "booking_accounts": {},
        "check_accounts": {},
        "delivery_date_in_head_text": False,
        "e_invoice": "off",
        "payment_methods": {},
        "default_payment_method": None,
    }
    assert DEFAULT_VOUCHER_DUE_DAYS == 14


def test_an_empty_stored_object_means_the_defaults_and_unknown_keys_are_ignored() -> None:
    assert TenantSettings.model_validate({}) == TenantSettings()
    assert TenantSettings.model_validate({"retired_option": 1}) == TenantSettings()


def test_the_stored_json_reads_back_equal() -> None:
    settings = TenantSettings(
        small_business=True,
        small_business_until=date(2026, 12, 31),
        default_tax_type="eu_reverse_charge",
        units={"hour": "1"},
        voucher_due_days=0,
        booking_accounts={"revenue": "8400"},
        check_accounts={"bank": "5"},
    )

    stored = settings.model_dump(mode="json")

    assert stored["small_business_until"] == "2026-12-31"
    assert TenantSettings.model_validate(stored) == settings


def test_settings_are_frozen() -> None:
    settings = TenantSettings()
    with pytest.raises(ValidationError):
        settings.small_business = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "values",
    [
        {"voucher_due_days": -1},
        {"voucher_due_days": 366},
        {"default_tax_type": "bogus"},
        {"small_business_until": "2026-13-01"},
        {"e_invoice": "sometimes"},
        {"payment_methods": {"card": "21919x"}},
        {"payment_methods": {"card": ""}},
        {"default_payment_method": "-1"},
        {"default_payment_method": "²"},  # a digit to str.isdigit, no number to sevDesk
    ],
)
def test_invalid_values_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TenantSettings.model_validate(values)


def test_tax_types_list_every_literal() -> None:
    assert set(TAX_TYPES) == set(get_args(TaxType))
    assert len(TAX_TYPES) == len(set(TAX_TYPES))


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(2026, 6, 1), date(2099, 12, 31)])
def test_not_a_small_business(day: date) -> None:
    assert TenantSettings().small_business_on(day) is False
    # An end date alone does not make the scheme hold.
    assert TenantSettings(small_business_until=date(2099, 12, 31)).small_business_on(day) is False


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(2026, 6, 1), date(2099, 12, 31)])
def test_small_business_without_an_end_date_holds_every_day(day: date) -> None:
    assert TenantSettings(small_business=True).small_business_on(day) is True


@pytest.mark.parametrize(
    ("day", "holds"),
    [
        (date(2025, 1, 1), True),
        (date(2026, 12, 30), True),
        (date(2026, 12, 31), True),  # the last day of the scheme
        (date(2027, 1, 1), False),
        (date(2030, 6, 1), False),
    ],
)
def test_small_business_with_an_end_date(day: date, holds: bool) -> None:
    settings = TenantSettings(small_business=True, small_business_until=date(2026, 12, 31))

    assert settings.small_business_on(day) is holds


# --- settings_changes ----------------------------------------------------------------------------


def test_no_options_change_nothing() -> None:
    args = _args()

    assert settings_changes(args, TenantSettings().model_dump()) == {}
    assert args.enabled is None


@pytest.mark.parametrize(("option", "enabled"), [("--enable", True), ("--disable", False)])
def test_enable_and_disable_are_not_settings(option: str, enabled: bool) -> None:
    args = _args(option)

    assert args.enabled is enabled
    assert settings_changes(args, TenantSettings().model_dump()) == {}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--small-business"], {"small_business": True}),
        (["--no-small-business"], {"small_business": False}),
        (["--auto-sync-customers"], {"auto_sync_customers": True}),
        (["--no-auto-sync-customers"], {"auto_sync_customers": False}),
        (["--auto-sync-products"], {"auto_sync_products": True}),
        (["--no-auto-sync-products"], {"auto_sync_products": False}),
        (["--small-business-until", "2026-12-31"], {"small_business_until": date(2026, 12, 31)}),
        (["--default-tax-type", "non_eu_export"], {"default_tax_type": "non_eu_export"}),
        (["--contact-person", "42"], {"contact_person_id": "42"}),
        (["--no-contact-person"], {"contact_person_id": None}),
        (["--voucher-due-days", "0"], {"voucher_due_days": 0}),
        (["--voucher-due-days", "30"], {"voucher_due_days": 30}),
        (["--cost-centre", "77"], {"cost_centre_id": "77"}),
        (["--no-cost-centre"], {"cost_centre_id": None}),
        (["--delivery-date-in-head-text"], {"delivery_date_in_head_text": True}),
        (["--no-delivery-date-in-head-text"], {"delivery_date_in_head_text": False}),
        (["--e-invoice", "all"], {"e_invoice": "all"}),
        (["--e-invoice", "customers"], {"e_invoice": "customers"}),
        (["--e-invoice", "off"], {"e_invoice": "off"}),
        (["--payment-method", "card=21920"], {"payment_methods": {"card": "21920"}}),
        (["--default-payment-method", "21919"], {"default_payment_method": "21919"}),
        (["--no-default-payment-method"], {"default_payment_method": None}),
    ],
)
def test_single_options(options: list[str], expected: dict[str, Any]) -> None:
    assert _changes(*options) == expected


@pytest.mark.parametrize("tax_type", TAX_TYPES)
def test_every_tax_type_is_an_option(tax_type: str) -> None:
    assert _changes("--default-tax-type", tax_type) == {"default_tax_type": tax_type}


def test_map_additions_merge_onto_the_current_maps() -> None:
    current = TenantSettings(
        units={"hour": "1", "piece": "9"},
        booking_accounts={"revenue": "8400"},
        check_accounts={"bank": "5"},
    ).model_dump()
    before = copy.deepcopy(current)

    changes = _changes(
        "--unit", "day=3",
        "--unit", "hour=2",
        "--booking-account", "consulting=8337",
        "--check-account", " cash = 6 ",
        current=current,
    )  # fmt: skip

    assert changes == {
        "units": {"hour": "2", "piece": "9", "day": "3"},
        "booking_accounts": {"revenue": "8400", "consulting": "8337"},
        "check_accounts": {"bank": "5", "cash": "6"},
    }
    assert current == before  # the current settings are not modified in place


def test_map_removals() -> None:
    current = TenantSettings(
        booking_accounts={"revenue": "8400", "consulting": "8337"},
        check_accounts={"bank": "5", "cash": "6"},
    ).model_dump()
    before = copy.deepcopy(current)

    changes = _changes(
        "--remove-booking-account", "consulting",
        "--remove-check-account", "bank",
        "--remove-check-account", "cash",
        "--check-account", "paypal=7",
        current=current,
    )  # fmt: skip

    assert changes == {"booking_accounts": {"revenue": "8400"}, "check_accounts": {"paypal": "7"}}
    assert current == before


def test_untouched_maps_are_not_in_the_changes() -> None:
    current = TenantSettings(units={"hour": "1"}, booking_accounts={"revenue": "8400"}).model_dump()

    assert _changes("--check-account", "bank=5", current=current) == {"check_accounts": {"bank": "5"}}


def test_a_missing_or_null_map_counts_as_empty() -> None:
    assert _changes("--unit", "hour=1", current={}) == {"units": {"hour": "1"}}
    assert _changes("--booking-account", "a=1", current={"booking_accounts": None}) == {
        "booking_accounts": {"a": "1"}
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--remove-booking-account", "nope"], "booking accounts has no entry 'nope' to remove"),
        (["--remove-check-account", "nope"], "check accounts has no entry 'nope' to remove"),
        (
            ["--check-account", "bank=5", "--remove-check-account", "cash"],
            "check accounts has no entry 'cash'",
        ),
    ],
)
def test_removing_a_missing_key_is_an_error(options: list[str], message: str) -> None:
    current = TenantSettings(booking_accounts={"revenue": "8400"}).model_dump()

    with pytest.raises(CliError, match=message):
        _changes(*options, current=current)


def test_all_options_together_validate_as_settings() -> None:
    current = TenantSettings(units={"hour": "1"}, check_accounts={"cash": "6"}).model_dump()

    changes = _changes(
        "--small-business", "--small-business-until", "2026-12-31",
        "--default-tax-type", "eu_intra_community",
        "--no-auto-sync-customers", "--no-auto-sync-products", "--contact-person", "42", "--unit", "day=3",
        "--voucher-due-days", "21", "--cost-centre", "77", "--booking-account", "revenue=8400",
        "--check-account", "bank=5", "--remove-check-account", "cash",
        current=current,
    )  # fmt: skip
    settings = TenantSettings.model_validate(current | changes)

    assert settings == TenantSettings(
        auto_sync_customers=False,
        auto_sync_products=False,
        small_business=True,
        small_business_until=date(2026, 12, 31),
        default_tax_type="eu_intra_community",
        contact_person_id="42",
        units={"hour": "1", "day": "3"},
        voucher_due_days=21,
        cost_centre_id="77",
        booking_accounts={"revenue": "8400"},
        check_accounts={"bank": "5"},
    )


def test_payment_methods_merge_and_remove_like_the_other_maps() -> None:
    current = TenantSettings(payment_methods={"card": "21920", "cash": "21921"}).model_dump()

    changes = _changes(
        "--payment-method", "paypal=21922",
        "--payment-method", "card=21919",
        "--remove-payment-method", "cash",
        current=current,
    )  # fmt: skip

    assert changes == {"payment_methods": {"card": "21919", "paypal": "21922"}}
    with pytest.raises(CliError, match="payment methods has no entry 'sepa' to remove"):
        _changes("--remove-payment-method", "sepa", current=current)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--payment-method", "card=abc"], "--payment-method: 'abc' is not a sevDesk PaymentMethod id"),
        (["--payment-method", "card"], "--payment-method: expected NAME=VALUE"),
        (["--default-payment-method", "21919a"], "'21919a' is not a sevDesk PaymentMethod id"),
        (["--e-invoice", "yes"], "--e-invoice: invalid choice: 'yes'"),
        (["--default-payment-method", "1", "--no-default-payment-method"], "not allowed with argument"),
    ],
)
def test_malformed_einvoice_options_are_one_usage_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _args(*options)

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--contact-person", "anna"], "--contact-person: 'anna' is not a sevDesk SevUser id"),
        (["--contact-person", "-1"], "'-1' is not a sevDesk SevUser id"),
        (["--contact-person", "0"], "'0' is not a sevDesk SevUser id (a whole number from 1, up to 20"),
        (["--cost-centre", "CC-7"], "--cost-centre: 'CC-7' is not a sevDesk CostCentre id"),
        (["--unit", "hour=h1"], "argument --unit: 'h1' is not a sevDesk Unity id"),
        (["--check-account", "bank=DE02 1203"], "'DE02 1203' is not a sevDesk CheckAccount id"),
        (["--check-account", "bank=１２"], "is not a sevDesk CheckAccount id"),  # full-width digits
        (["--booking-account", "revenue=84OO"], "an SKR account number is a number, got '84OO'"),
        (["--contact-person", "1", "--no-contact-person"], "not allowed with argument --contact-person"),
    ],
)
def test_malformed_ids_are_one_usage_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _args(*options)

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


def test_no_contact_person_clears_a_stored_one() -> None:
    current = TenantSettings(contact_person_id="42").model_dump()

    changes = _changes("--no-contact-person", current=current)

    assert changes == {"contact_person_id": None}
    assert TenantSettings.model_validate(current | changes).contact_person_id is None


def _settings_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = build_parser()
    for words in (["tenant"], ["settings"]):
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[words[0]]
    return parser


@pytest.mark.parametrize(
    "option",
    [
        "--e-invoice",
        "--payment-method",
        "--remove-payment-method",
        "--default-payment-method",
        "--no-default-payment-method",
    ],
)
def test_each_einvoice_option_has_help_text(option: str) -> None:
    [action] = [a for a in _settings_parser()._actions if option in a.option_strings]
    assert action.help is not None
    assert len(action.help) > 10
