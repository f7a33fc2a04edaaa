"""The options of `sevsync tenant settings` and the settings changes they make."""

from __future__ import annotations

import argparse
from typing import Any

from ..tenants.settings import E_INVOICE_MODES
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


def _payment_method_id(text: str) -> str:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a sevDesk PaymentMethod id is a number, got {text!r}")
    return text


def _payment_method(text: str) -> tuple[str, str]:
    method, method_id = key_value(text)
    return method, _payment_method_id(method_id)


def add_settings_options(p: argparse.ArgumentParser) -> None:
    def toggle(name: str, dest: str, what: str) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument(f"--{name}", dest=dest, action="store_const", const=True, help=f"turn {what} on")
        group.add_argument(
            f"--no-{name}", dest=dest, action="store_const", const=False, help=f"turn {what} off"
        )

    group = p.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_const", const=True, help="sync this tenant")
    group.add_argument("--disable", dest="enabled", action="store_const", const=False, help="stop syncing")
    toggle("small-business", "small_business", "the Kleinunternehmer scheme (§19 UStG)")
    p.add_argument("--small-business-until", type=iso_date, metavar="DATE", help="last day of the scheme")
    p.add_argument(
        "--default-tax-type",
        choices=["standard", "eu_intra_community", "eu_reverse_charge", "non_eu_export", "non_eu_service"],
    )
    toggle("auto-sync-customers", "auto_sync_customers", "customer sync")
    toggle("auto-sync-products", "auto_sync_products", "product sync")
    toggle(
        "delivery-date-in-head-text",
        "delivery_date_in_head_text",
        "the delivery date in the head text of deal invoices instead of deliveryDate (sevsync turns "
        "it on when the account refuses a delivery date equal to the invoice date)",
    )
    p.add_argument("--contact-person", metavar="ID", help="SevUser id on orders and invoices")
    p.add_argument("--unit", type=key_value, action="append", default=[], metavar="NAME=ID")
    p.add_argument("--voucher-due-days", type=non_negative_int, metavar="N")
    centre = p.add_mutually_exclusive_group()
    centre.add_argument("--cost-centre", metavar="ID")
    centre.add_argument("--no-cost-centre", action="store_true")
    p.add_argument("--booking-account", type=key_value, action="append", default=[], metavar="CODE=NUMBER")
    p.add_argument("--remove-booking-account", action="append", default=[], metavar="CODE")
    p.add_argument("--check-account", type=key_value, action="append", default=[], metavar="METHOD=ID")
    p.add_argument("--remove-check-account", action="append", default=[], metavar="METHOD")
    _add_einvoice_options(p)


def _add_einvoice_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--e-invoice",
        choices=E_INVOICE_MODES,
        help="which won-deal invoices are e-invoices: off; all (company customers, and persons whose "
        "e_invoice is true); customers (by the customer's e_invoice, else its buyer_reference)",
    )
    p.add_argument(
        "--payment-method",
        type=_payment_method,
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
