"""``/ReceiptGuidance`` and ``/CostCentre``: the booking aids a voucher refers to.

ReceiptGuidance lists the booking accounts (``accountDatev``) a client may use on voucher positions,
each with the tax rules it allows, the position rates each rule allows there (``ZERO``, ``SEVEN``,
``NINETEEN``) and whether it is a ``REVENUE`` or ``EXPENSE`` account. The sandbox offers a small
SKR03-like chart, the same for every account. As on the real API, ``accountDatevId`` is an internal
id, not the account number, so a client must map numbers to ids through these endpoints.

Quirks and choices:

- ``forAccountNumber`` answers a single object, not a list (measured on the real API). The other
  guidance lists page like every list (``limit``, ``offset``, ``countAll``, the account's page size):
  the spec names no paging for them, but live accounts cut other account lists short (api-notes 15),
  so a client must page these too.
- ``forAccountNumber`` with an unknown number and ``forTaxRule`` with a code no account allows answer
  HTTP 422, as the spec documents for both; a missing or malformed parameter is a 400.
- With ``Account.small_business_guidance`` off, no account offers rule 11 (Kleinunternehmer), as for a
  client whose bookkeeping is not set up for §19 UStG; integrations must check for it before using it.

``GET /CostCentre`` (undocumented, used in practice) lists the cost centres seeded per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import bad_request, invalid
from .money import SMALL_BUSINESS_RULE
from .store import Account
from .wire import API_PREFIX, account_of, get_record, ok, one, page, page_records, path_id

routes = web.RouteTableDef()

REVENUE = "REVENUE"
EXPENSE = "EXPENSE"

ZERO, SEVEN, NINETEEN = Decimal(0), Decimal(7), Decimal(19)
RATE_NAMES: dict[Decimal, str] = {ZERO: "ZERO", SEVEN: "SEVEN", NINETEEN: "NINETEEN"}
ALL_RATES = frozenset(RATE_NAMES)


@dataclass(frozen=True)
class TaxRule:
    id: int
    code: str
    description: str


# Global rule ids and codes of sevDesk Update 2.0 (revenue side 1-21, expense side 8-10).
TAX_RULES: dict[int, TaxRule] = {
    rule.id: rule
    for rule in (
        TaxRule(1, "USTPFL_UMS_EINN", "Umsatzsteuerpflichtige Umsätze"),
        TaxRule(2, "AUSFUHREN", "Ausfuhren"),
        TaxRule(3, "INNERGEM_LIEF", "Innergemeinschaftliche Lieferungen"),
        TaxRule(9, "VORST_ABZUGSF_AUFW", "Vorsteuerabziehbare Aufwendungen"),
        TaxRule(10, "NICHT_VORST_ABZUGSF_AUFW", "Nicht vorsteuerabziehbare Aufwendungen"),
        TaxRule(11, "KLEINUNTERNEHMER_P19", "Steuer nicht erhoben nach §19 UStG"),
        TaxRule(17, "NICHT_IM_INLAND_STEUERBAR", "Nicht im Inland steuerbare Leistung"),
        TaxRule(21, "REV_CHARGE_13B_1_USTG", "Steuerschuldnerschaft des Leistungsempfängers (§18b UStG)"),
    )
}


@dataclass(frozen=True)
class BookingAccount:
    """One guidance entry: a booking account and what may be booked on it."""

    datev_id: int
    number: str
    name: str
    description: str
    receipt_type: str
    rules: tuple[tuple[int, frozenset[Decimal]], ...]  # (tax rule id, allowed position rates)

    def rates_for(self, rule_id: int) -> frozenset[Decimal] | None:
        """The rates the rule allows on this account, or None if the account does not allow it."""
        return next((rates for rid, rates in self.rules if rid == rule_id), None)


def _zero_only(rule_id: int) -> tuple[int, frozenset[Decimal]]:
    return (rule_id, frozenset({ZERO}))


# The ids start at 5000 so that no id equals an account number (clients must not confuse the two).
BOOKING_ACCOUNTS: tuple[BookingAccount, ...] = (
    BookingAccount(
        5101,
        "8400",
        "Erlöse 19 % USt",
        "Umsatzerlöse aus Lieferungen und Leistungen zum Regelsteuersatz",
        REVENUE,
        ((1, frozenset({NINETEEN})), _zero_only(SMALL_BUSINESS_RULE)),
    ),
    BookingAccount(
        5102,
        "8300",
        "Erlöse 7 % USt",
        "Umsatzerlöse zum ermäßigten Steuersatz",
        REVENUE,
        ((1, frozenset({SEVEN})), _zero_only(SMALL_BUSINESS_RULE)),
    ),
    BookingAccount(
        5103,
        "8200",
        "Erlöse",
        "Umsatzerlöse ohne feste Zuordnung zu einem Steuersatz",
        REVENUE,
        ((1, ALL_RATES), _zero_only(SMALL_BUSINESS_RULE)),
    ),
    BookingAccount(
        5104,
        "8125",
        "Steuerfreie innergemeinschaftliche Lieferungen §4 Nr. 1b UStG",
        "Lieferungen an Unternehmen in anderen EU-Staaten mit USt-IdNr.",
        REVENUE,
        (_zero_only(3),),
    ),
    BookingAccount(
        5105,
        "8120",
        "Steuerfreie Umsätze §4 Nr. 1a UStG",
        "Ausfuhrlieferungen in Staaten außerhalb der EU",
        REVENUE,
        (_zero_only(2),),
    ),
    BookingAccount(
        5106,
        "8338",
        "Erlöse aus im Drittland steuerbaren Leistungen",
        "Leistungen, die nicht im Inland steuerbar sind",
        REVENUE,
        (_zero_only(17),),
    ),
    BookingAccount(
        5107,
        "8336",
        "Erlöse aus im anderen EU-Land steuerpflichtigen sonstigen Leistungen",
        "Sonstige Leistungen an Unternehmen in der EU; der Leistungsempfänger schuldet die Steuer",
        REVENUE,
        (_zero_only(21),),
    ),
    BookingAccount(
        5201,
        "3400",
        "Wareneingang 19 % Vorsteuer",
        "Einkauf von Waren zum Regelsteuersatz",
        EXPENSE,
        ((9, frozenset({NINETEEN})), _zero_only(10)),
    ),
    BookingAccount(
        5202,
        "4210",
        "Miete",
        "Miete für Geschäftsräume",
        EXPENSE,
        ((9, frozenset({ZERO, NINETEEN})), _zero_only(10)),
    ),
    BookingAccount(
        5203,
        "4930",
        "Bürobedarf",
        "Büromaterial und Verbrauchsgüter für das Büro",
        EXPENSE,
        ((9, ALL_RATES), _zero_only(10)),
    ),
    BookingAccount(
        5204,
        "4970",
        "Nebenkosten des Geldverkehrs",
        "Kontoführungs- und Zahlungsgebühren",
        EXPENSE,
        (_zero_only(9), _zero_only(10)),
    ),
)


def _offers(account: Account, rule_id: int) -> bool:
    return rule_id != SMALL_BUSINESS_RULE or account.small_business_guidance


def booking_account(account: Account, datev_id: int) -> BookingAccount | None:
    """The guidance entry with this ``accountDatevId`` as the account currently offers it."""
    for entry in BOOKING_ACCOUNTS:
        if entry.datev_id == datev_id:
            rules = tuple(pair for pair in entry.rules if _offers(account, pair[0]))
            return BookingAccount(
                entry.datev_id, entry.number, entry.name, entry.description, entry.receipt_type, rules
            )
    return None


def _render(entry: BookingAccount) -> dict[str, Any]:
    return {
        "accountDatevId": entry.datev_id,
        "accountNumber": entry.number,
        "accountName": entry.name,
        "description": entry.description,
        "allowedTaxRules": [
            {
                "id": rule_id,
                "name": TAX_RULES[rule_id].code,
                "description": TAX_RULES[rule_id].description,
                "taxRates": [name for rate, name in RATE_NAMES.items() if rate in rates],
            }
            for rule_id, rates in entry.rules
        ],
        "allowedReceiptTypes": [entry.receipt_type],
    }


def guidance(account: Account, receipt_type: str | None = None) -> list[dict[str, Any]]:
    """The guidance entries of the account, optionally only those of one receipt type."""
    entries = (booking_account(account, entry.datev_id) for entry in BOOKING_ACCOUNTS)
    return [
        _render(entry)
        for entry in entries
        if entry is not None and (receipt_type is None or entry.receipt_type == receipt_type)
    ]


# --- ReceiptGuidance routes -------------------------------------------------------------------------


@routes.get(f"{API_PREFIX}/ReceiptGuidance/forAllAccounts")
async def for_all_accounts(request: web.Request) -> web.Response:
    return page(request, guidance(account_of(request)))


@routes.get(f"{API_PREFIX}/ReceiptGuidance/forRevenue")
async def for_revenue(request: web.Request) -> web.Response:
    return page(request, guidance(account_of(request), REVENUE))


@routes.get(f"{API_PREFIX}/ReceiptGuidance/forExpense")
async def for_expense(request: web.Request) -> web.Response:
    return page(request, guidance(account_of(request), EXPENSE))


@routes.get(f"{API_PREFIX}/ReceiptGuidance/forAccountNumber")
async def for_account_number(request: web.Request) -> web.Response:
    number = request.query.get("accountNumber", "").strip()
    if not number.isdigit():
        raise bad_request("accountNumber must be an integer")
    found = [item for item in guidance(account_of(request)) if item["accountNumber"] == str(int(number))]
    if not found:
        raise invalid(f"The account {number} you requested could not be found")
    # A single object, not a list: the real endpoint answers this way despite its spec.
    return ok(found[0])


@routes.get(f"{API_PREFIX}/ReceiptGuidance/forTaxRule")
async def for_tax_rule(request: web.Request) -> web.Response:
    code = request.query.get("taxRule", "").strip()
    if not code:
        raise bad_request("taxRule (the code of a tax rule, e.g. USTPFL_UMS_EINN) is required")
    found = [
        item
        for item in guidance(account_of(request))
        if any(rule["name"] == code for rule in item["allowedTaxRules"])
    ]
    if not found:
        raise invalid(f"No account guides were found for the tax rule {code}")
    return page(request, found)


# --- cost centres -----------------------------------------------------------------------------------


@routes.get(f"{API_PREFIX}/CostCentre")
async def list_cost_centres(request: web.Request) -> web.Response:
    return page_records(request, account_of(request).table("CostCentre").values())


@routes.get(API_PREFIX + r"/CostCentre/{id:\d+}")
async def get_cost_centre(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), "CostCentre", path_id(request)).render())
