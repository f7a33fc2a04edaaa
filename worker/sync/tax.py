"""Which sevDesk tax rule a document gets, and what that means for its positions (CONTRACT section 5).

Pure: the caller passes in everything (tenant settings, the document's date and tax type, the
customer's country and VAT id, the line rates, the kind of document) and gets a `TaxDecision`
back, or `TaxRuleInvalid` when the case's requirements are not met. The rule ids are those of
sevDesk "Update 2.0" accounts, which are the same on every account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

from sevsync_events.payloads import TaxType

from ..tenants.settings import TenantSettings

__all__ = [
    "EU_COUNTRIES",
    "STANDARD_RATES",
    "DocumentKind",
    "TaxDecision",
    "TaxRuleInvalid",
    "resolve_tax",
    "tax_decision_for",
]

DocumentKind = Literal["order", "invoice", "voucher"]

# The 27 member states as ISO 3166-1 alpha-2 codes. Greece is "GR" here: its VAT ids start with
# "EL", but customer countries arrive as ISO codes, so "EL" is not a country and is not listed.
EU_COUNTRIES: Final[frozenset[str]] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
HOME_COUNTRY: Final = "DE"

# The German VAT rates sevDesk accepts on a standard-taxed document.
STANDARD_RATES: Final[frozenset[Decimal]] = frozenset({Decimal(0), Decimal(7), Decimal(19)})

_ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class TaxDecision:
    """The outcome of tax rule resolution for one document."""

    tax_rule: int
    rule_code: str
    zero_rated: bool
    small_settlement: bool
    tax_text: str

    def position_rate(self, rate: Decimal) -> Decimal:
        """The rate a position is sent with: the line's own rate, unless the rule taxes nothing."""
        return _ZERO if self.zero_rated else rate


class TaxRuleInvalid(Exception):
    """The document's tax case cannot be applied; `message` names what is missing or wrong.

    Retrying does not help: the event's data (or the tenant's settings) has to change.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# One decision per rule; they are constants, so equal inputs give identical objects.
SMALL_BUSINESS: Final = TaxDecision(
    tax_rule=11,
    rule_code="KLEINUNTERNEHMER_P19",
    zero_rated=True,
    small_settlement=True,
    tax_text="Gemäß § 19 UStG wird keine Umsatzsteuer ausgewiesen (Kleinunternehmerregelung).",
)
STANDARD: Final = TaxDecision(
    tax_rule=1,
    rule_code="USTPFL_UMS_EINN",
    zero_rated=False,
    small_settlement=False,
    tax_text="Umsatzsteuer",
)
INTRA_COMMUNITY: Final = TaxDecision(
    tax_rule=3,
    rule_code="INNERGEM_LIEF",
    zero_rated=True,
    small_settlement=False,
    tax_text="Steuerfreie innergemeinschaftliche Lieferung nach § 4 Nr. 1b UStG",
)
REVERSE_CHARGE: Final = TaxDecision(
    tax_rule=21,
    rule_code="REV_CHARGE_13B_1_USTG",
    zero_rated=True,
    small_settlement=False,
    tax_text="Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge)",
)
EXPORT: Final = TaxDecision(
    tax_rule=2,
    rule_code="AUSFUHREN",
    zero_rated=True,
    small_settlement=False,
    tax_text="Steuerfreie Ausfuhrlieferung nach § 4 Nr. 1a UStG",
)
NOT_TAXABLE_HERE: Final = TaxDecision(
    tax_rule=17,
    rule_code="NICHT_IM_INLAND_STEUERBAR",
    zero_rated=True,
    small_settlement=False,
    tax_text="Im Inland nicht steuerbare Leistung",
)


def _rate_text(rate: Decimal) -> str:
    """A rate as people write it ("16", "16.5"), never in exponent notation."""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _country(raw: str | None) -> str | None:
    # Codes compare case-insensitively; a blank code is treated as no country at all.
    if raw is None or not raw.strip():
        return None
    return raw.strip().upper()


def _got(country: str | None) -> str:
    return f"got {country}" if country is not None else "the customer has no country"


def _eu_business_case(
    tax_type: TaxType, decision: TaxDecision, country: str | None, vat_id: str | None
) -> TaxDecision:
    """Rules 3 and 21: a business customer (VAT id) in another member state."""
    missing: list[str] = []
    if vat_id is None or not vat_id.strip():
        missing.append("the customer's VAT id")
    if country is None or country == HOME_COUNTRY or country not in EU_COUNTRIES:
        missing.append(f"a customer country in the EU other than {HOME_COUNTRY} ({_got(country)})")
    if missing:
        raise TaxRuleInvalid(f"tax type {tax_type} needs " + " and ".join(missing))
    return decision


def _non_eu_case(tax_type: TaxType, decision: TaxDecision, country: str | None) -> TaxDecision:
    """Rules 2 and 17: the customer is outside the EU (so also not in Germany)."""
    if country is None or country in EU_COUNTRIES:
        raise TaxRuleInvalid(f"tax type {tax_type} needs a customer country outside the EU ({_got(country)})")
    return decision


def resolve_tax(
    *,
    small_business: bool,
    small_business_until: date | None,
    default_tax_type: TaxType,
    document_date: date,
    tax_type: TaxType | None,
    customer_country: str | None,
    customer_vat_id: str | None,
    line_rates: Iterable[Decimal],
    kind: DocumentKind,
) -> TaxDecision:
    """The tax rule for one document, or `TaxRuleInvalid` naming the unmet requirement."""
    # The Kleinunternehmer scheme is judged on the document's own date, not today's: a back-dated
    # invoice from the small-business period stays VAT-free. While it holds, no other rule applies.
    if small_business and (small_business_until is None or document_date <= small_business_until):
        return SMALL_BUSINESS

    effective = tax_type or default_tax_type
    country = _country(customer_country)
    match effective:
        case "standard":
            wrong = sorted({rate for rate in line_rates if rate not in STANDARD_RATES})
            if wrong:
                rates = ", ".join(_rate_text(rate) for rate in wrong)
                raise TaxRuleInvalid(f"tax type standard allows only the rates 0, 7 and 19 %, not {rates} %")
            return STANDARD
        case "eu_intra_community":
            return _eu_business_case(effective, INTRA_COMMUNITY, country, customer_vat_id)
        case "eu_reverse_charge":
            # sevDesk refuses rule 21 on vouchers; checked first because no customer data can fix it.
            if kind == "voucher":
                raise TaxRuleInvalid("tax type eu_reverse_charge is not allowed on a voucher (CRM invoice)")
            return _eu_business_case(effective, REVERSE_CHARGE, country, customer_vat_id)
        case "non_eu_export":
            return _non_eu_case(effective, EXPORT, country)
        case "non_eu_service":
            return _non_eu_case(effective, NOT_TAXABLE_HERE, country)
        case _:
            # Unreachable for validated payloads; kept so a new tax type fails loudly, not silently.
            raise TaxRuleInvalid(f"unknown tax type {effective}")


def tax_decision_for(
    settings: TenantSettings,
    *,
    document_date: date,
    tax_type: TaxType | None,
    customer_country: str | None,
    customer_vat_id: str | None,
    line_rates: Iterable[Decimal],
    kind: DocumentKind,
) -> TaxDecision:
    """`resolve_tax` with the small-business and default tax type settings of a tenant."""
    return resolve_tax(
        small_business=settings.small_business,
        small_business_until=settings.small_business_until,
        default_tax_type=settings.default_tax_type,
        document_date=document_date,
        tax_type=tax_type,
        customer_country=customer_country,
        customer_vat_id=customer_vat_id,
        line_rates=line_rates,
        kind=kind,
    )


def allows_small_business(account: Mapping[str, Any]) -> bool:
    """Whether a revenue booking account (a ReceiptGuidance entry) allows tax rule 11 at 0 %: sevDesk
    finalises a rule-11 invoice only then. The sync and the doctor judge an account by this alone."""
    rules = account.get("allowedTaxRules") or []
    return any(
        isinstance(rule, Mapping)
        and str(rule.get("id")) == str(SMALL_BUSINESS.tax_rule)
        and "ZERO" in (rule.get("taxRates") or [])
        for rule in rules
    )
