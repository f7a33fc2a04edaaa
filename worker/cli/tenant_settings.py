"""The options of `sevsync tenant settings` and the settings changes they make."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..sync.broken_links import checked_sevdesk_id
from ..tenants.settings import E_INVOICE_MODES, TAX_TYPES
from .arguments import iso_date, key_value, non_negative_int
from .errors import CliError

# The settings switched on and off by a pair of flags, or chosen from a list: taken as given.
_PLAIN_SETTINGS = (
    "small_business",
    "auto_sync_customers",
    "auto_sync_products",
    "default_tax_type",
    "delivery_date_in_head_text",
    "e_invoice",
)


def _number(what: str) -> Callable[[str], str]:
    """An argument type for an SKR account number: digits only (not a sevDesk id: the chart of
    accounts has its own numbers), so a typo is refused here instead of stored and failing every
    event that uses it."""

    def check(text: str) -> str:
        if not (text.isascii() and text.isdigit()):
            raise argparse.ArgumentTypeError(f"{what} is a number, got {text!r}")
        return text

    return check


def _sevdesk_id(what: str) -> Callable[[str], str]:
    """An argument type for a sevDesk id, by the rule `link relink` uses (`checked_sevdesk_id`)."""

    def check(text: str) -> str:
        try:
            return checked_sevdesk_id(text, what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return check


def _mapping_to(
    what: str, value: Callable[[str], Callable[[str], str]] = _sevdesk_id
) -> Callable[[str], tuple[str, str]]:
    """An argument type for `KEY=ID`, the value checked as `_sevdesk_id` (or `value`) does."""
    number = value(what)

    def check(text: str) -> tuple[str, str]:
        key, value = key_value(text)
        return key, number(value)

    return check


_payment_method_id = _sevdesk_id("a sevDesk PaymentMethod id")


def add_settings_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_const", const=True, help="sync this tenant")
    group.add_argument("--disable", dest="enabled", action="store_const", const=False, help="stop syncing")
    _toggle(p, "small-business", "small_business", "the Kleinunternehmer scheme (§19 UStG)")
    p.add_argument("--small-business-until", type=iso_date, metavar="DATE", help="last day of the scheme")
    p.add_argument(
        "--default-tax-type",
        choices=TAX_TYPES,
        help="tax type of deals and CRM invoices that name none [standard]",
    )
    _toggle(p, "auto-sync-customers", "auto_sync_customers", "customer sync")
    _toggle(p, "auto-sync-products", "auto_sync_products", "product sync")
    _toggle(
        p,
        "delivery-date-in-head-text",
        "delivery_date_in_head_text",
        "the delivery date in the head text of deal invoices instead of deliveryDate (sevsync turns "
        "it on when the account refuses a delivery date equal to the invoice date)",
    )
    person = p.add_mutually_exclusive_group()
    person.add_argument(
        "--contact-person",
        type=_sevdesk_id("a sevDesk SevUser id"),
        metavar="ID",
        help="SevUser id on orders and invoices [the account's first user]",
    )
    person.add_argument(
        "--no-contact-person", action="store_true", help="forget it: the account's first user again"
    )
    p.add_argument(
        "--unit",
        type=_mapping_to("a sevDesk Unity id"),
        action="append",
        default=[],
        metavar="NAME=ID",
        help="map a CRM unit to a sevDesk Unity id (repeatable)",
    )
    p.add_argument(
        "--voucher-due-days",
        type=non_negative_int,
        metavar="N",
        help="days from a CRM invoice's date to its voucher's payment deadline [14]",
    )
    _add_account_options(p)
    _add_einvoice_options(p)


def _toggle(p: argparse.ArgumentParser, name: str, dest: str, what: str) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(f"--{name}", dest=dest, action="store_const", const=True, help=f"turn {what} on")
    group.add_argument(f"--no-{name}", dest=dest, action="store_const", const=False, help=f"turn {what} off")


def _add_account_options(p: argparse.ArgumentParser) -> None:
    centre = p.add_mutually_exclusive_group()
    centre.add_argument(
        "--cost-centre",
        type=_sevdesk_id("a sevDesk CostCentre id"),
        metavar="ID",
        help="CostCentre id on vouchers of CRM invoices",
    )
    centre.add_argument("--no-cost-centre", action="store_true", help="put no cost centre on vouchers")
    p.add_argument(
        "--booking-account",
        type=_mapping_to("an SKR account number", _number),
        action="append",
        default=[],
        metavar="CODE=NUMBER",
        help="book a CRM accounting code on this SKR revenue account (repeatable) [the code itself]",
    )
    p.add_argument(
        "--remove-booking-account",
        action="append",
        default=[],
        metavar="CODE",
        help="remove an accounting code's mapping (repeatable)",
    )
    p.add_argument(
        "--check-account",
        type=_mapping_to("a sevDesk CheckAccount id"),
        action="append",
        default=[],
        metavar="METHOD=ID",
        help="book payments of a CRM payment method on this CheckAccount id (repeatable)",
    )
    p.add_argument(
        "--remove-check-account",
        action="append",
        default=[],
        metavar="METHOD",
        help="remove a payment method's check account (repeatable)",
    )


def _add_einvoice_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--e-invoice",
        choices=E_INVOICE_MODES,
        help="which won-deal invoices are e-invoices: off; all (company customers, and persons whose "
        "e_invoice is true); customers (by the customer's e_invoice, else its buyer_reference)",
    )
    p.add_argument(
        "--payment-method",
        type=_mapping_to("a sevDesk PaymentMethod id"),
        action="append",
        default=[],
        metavar="METHOD=ID",
        help="map a deal's CRM payment method to a sevDesk PaymentMethod id (repeatable)",
    )
    p.add_argument(
        "--remove-payment-method",
        action="append",
        default=[],
        metavar="METHOD",
        help="remove a CRM payment method's mapping (repeatable)",
    )
    default = p.add_mutually_exclusive_group()
    default.add_argument(
        "--default-payment-method",
        type=_payment_method_id,
        metavar="ID",
        help="sevDesk PaymentMethod id of e-invoices whose deal names no mapped method",
    )
    default.add_argument(
        "--no-default-payment-method", action="store_true", help="remove the default payment method"
    )


def settings_changes(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    """The settings fields the options change, merged onto the current maps."""
    changes: dict[str, Any] = {}
    for name in _PLAIN_SETTINGS:
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.small_business_until is not None:
        changes["small_business_until"] = args.small_business_until
    if args.contact_person is not None:
        changes["contact_person_id"] = args.contact_person
    if args.no_contact_person:
        changes["contact_person_id"] = None
    if args.voucher_due_days is not None:
        changes["voucher_due_days"] = args.voucher_due_days
    if args.cost_centre is not None:
        changes["cost_centre_id"] = args.cost_centre
    if args.no_cost_centre:
        changes["cost_centre_id"] = None
    if args.default_payment_method is not None:
        changes["default_payment_method"] = args.default_payment_method
    if args.no_default_payment_method:
        changes["default_payment_method"] = None
    for field, additions, removals in (
        ("units", args.unit, []),
        ("booking_accounts", args.booking_account, args.remove_booking_account),
        ("check_accounts", args.check_account, args.remove_check_account),
        ("payment_methods", args.payment_method, args.remove_payment_method),
    ):
        if additions or removals:
            mapping = dict(current.get(field) or {})
            mapping.update(dict(additions))
            for key in removals:
                if key not in mapping:
                    raise CliError(f"{field.replace('_', ' ')} has no entry {key!r} to remove")
                del mapping[key]
            changes[field] = mapping
    return changes
