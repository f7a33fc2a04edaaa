"""The account's own company data (sevDesk's ``SevClient``), which e-invoices need.

The spec lists what a valid e-invoice needs from the sevClient (``Model_Invoice.propertyIsEInvoice``)
but documents no operation that reads or writes it: people fill it in the sevDesk settings. So the
sandbox serves no API route for it either; tests set it through ``/__sandbox__/company`` (see
:mod:`sevsync.sandbox.control`). A new account has none, so the e-invoice rules bite by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .store import Account

# What an e-invoice needs (the spec's sevClient list, in its names).
REQUIRED_FIELDS: tuple[str, ...] = (
    "addressStreet",
    "addressZip",
    "addressCity",
    "bankIban",
    "bankBic",
    "contactEmail",
    "contactPhone",
    "taxNumber",
)
# Optional: small businesses have no VAT number; the name only labels the seller in the XML.
OPTIONAL_FIELDS: tuple[str, ...] = ("vatNumber", "name")
FIELDS: tuple[str, ...] = REQUIRED_FIELDS + OPTIONAL_FIELDS


def company_of(account: Account) -> dict[str, str | None]:
    """Every company field of the account, ``None`` where it is not filled in."""
    return {name: account.company.get(name) for name in FIELDS}


def change_company(account: Account, changes: Mapping[str, Any]) -> dict[str, str | None]:
    """Set (a string) or clear (null or blank) company fields; ValueError names what is wrong."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown company field(s): {', '.join(unknown)}")
    wrong = sorted(
        name for name, value in changes.items() if value is not None and not isinstance(value, str)
    )
    if wrong:
        raise ValueError(f"company field(s) must be strings or null: {', '.join(wrong)}")
    for name, value in changes.items():
        if value is None or not value.strip():
            account.company.pop(name, None)
        else:
            account.company[name] = value.strip()
    return company_of(account)
