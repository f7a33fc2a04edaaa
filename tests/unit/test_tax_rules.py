"""Tax rule resolution (pure): the full table of cases against an independent oracle, then readable
examples of each sevDesk rule and of the messages a tenant gets when a case's needs are unmet."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from sevsync.sync.tax import (
    EU_COUNTRIES,
    STANDARD_RATES,
    DocumentKind,
    TaxDecision,
    TaxRuleInvalid,
    resolve_tax,
    tax_decision_for,
)
from sevsync.tenants.settings import TenantSettings
from sevsync_events.payloads import TaxType

DOC_DATE = date(2026, 3, 15)
STANDARD_LINE_RATES = (Decimal(19), Decimal(7), Decimal(0))
TAX_TYPES: tuple[TaxType, ...] = (
    "standard",
    "eu_intra_community",
    "eu_reverse_charge",
    "non_eu_export",
    "non_eu_service",
)
KINDS: tuple[DocumentKind, ...] = ("order", "invoice", "voucher")


# --- the oracle -----------------------------------------------------------------------------------
# Written straight from the contract's table, deliberately without sharing code with the resolver.


@dataclass(frozen=True)
class SmallBusiness:
    label: str
    on: bool
    until: date | None


SMALL_BUSINESS_STATES = (
    SmallBusiness("off", on=False, until=None),
    SmallBusiness("on", on=True, until=None),
    SmallBusiness("until_after", on=True, until=date(2026, 12, 31)),
    SmallBusiness("until_equal", on=True, until=DOC_DATE),
    SmallBusiness("expired", on=True, until=date(2026, 3, 14)),
    # Until alone does nothing while the flag is off.
    SmallBusiness("off_until_after", on=False, until=date(2026, 12, 31)),
)
COUNTRIES = ("DE", "FR", "CH", "US", None)
MEMBER_STATES_ABROAD = {"FR"}  # of the countries above: in the EU, not Germany
OUTSIDE_EU = {"CH", "US"}
VAT_IDS = ("FRXX999999999", None)
TYPE_SOURCES = ("override", "default")


@dataclass(frozen=True)
class Expected:
    rule: int | None  # None: TaxRuleInvalid
    fragments: tuple[str, ...] = ()  # must all appear in the error message
    absent: tuple[str, ...] = ()  # must not appear (the message names only what is wrong)


def oracle(
    sb: SmallBusiness, tax_type: TaxType, country: str | None, vat_id: str | None, kind: str
) -> Expected:
    small_business_holds = sb.label in {"on", "until_after", "until_equal"}
    if small_business_holds:
        return Expected(11)
    if tax_type == "standard":
        return Expected(1)

    head = f"tax type {tax_type}"
    country_words = f"got {country}" if country else "the customer has no country"
    if tax_type in ("eu_intra_community", "eu_reverse_charge"):
        if tax_type == "eu_reverse_charge" and kind == "voucher":
            return Expected(None, (head, "not allowed on a voucher"), ("VAT id",))
        vat_ok = vat_id is not None
        country_ok = country in MEMBER_STATES_ABROAD
        if vat_ok and country_ok:
            return Expected(3 if tax_type == "eu_intra_community" else 21)
        fragments = [head]
        absent = []
        if vat_ok:
            absent.append("VAT id")
        else:
            fragments.append("needs the customer's VAT id")
        if country_ok:
            absent.append("country")
        else:
            fragments += ["country in the EU other than DE", country_words]
        return Expected(None, tuple(fragments), tuple(absent))

    # non_eu_export, non_eu_service: only the country matters.
    if country in OUTSIDE_EU:
        return Expected(2 if tax_type == "non_eu_export" else 17)
    return Expected(None, (head, "needs a customer country outside the EU", country_words), ("VAT id",))


def _table() -> list[pytest.ParameterSet]:
    cases = []
    for sb, tax_type, source, country, vat_id, kind in itertools.product(
        SMALL_BUSINESS_STATES, TAX_TYPES, TYPE_SOURCES, COUNTRIES, VAT_IDS, KINDS
    ):
        vat = "vat" if vat_id else "no_vat"
        case_id = f"sb_{sb.label}-{tax_type}-{source}-{country or 'no_country'}-{vat}-{kind}"
        cases.append(pytest.param(sb, tax_type, source, country, vat_id, kind, id=case_id))
    return cases


@pytest.mark.parametrize(("sb", "tax_type", "source", "country", "vat_id", "kind"), _table())
def test_every_case_matches_the_contract_table(
    sb: SmallBusiness,
    tax_type: TaxType,
    source: str,
    country: str | None,
    vat_id: str | None,
    kind: DocumentKind,
) -> None:
    # The same tax type either overrides a different tenant default, or is the tenant default.
    other: TaxType = "eu_reverse_charge" if tax_type == "standard" else "standard"
    expected = oracle(sb, tax_type, country, vat_id, kind)

    def resolve() -> TaxDecision:
        return resolve_tax(
            small_business=sb.on,
            small_business_until=sb.until,
            default_tax_type=other if source == "override" else tax_type,
            document_date=DOC_DATE,
            tax_type=tax_type if source == "override" else None,
            customer_country=country,
            customer_vat_id=vat_id,
            line_rates=STANDARD_LINE_RATES,
            kind=kind,
        )

    if expected.rule is None:
        with pytest.raises(TaxRuleInvalid) as caught:
            resolve()
        for fragment in expected.fragments:
            assert fragment in caught.value.message
        for fragment in expected.absent:
            assert fragment not in caught.value.message
        assert str(caught.value) == caught.value.message
        return

    decision = resolve()
    assert decision.tax_rule == expected.rule
    assert decision.zero_rated is (expected.rule != 1)
    assert decision.small_settlement is (expected.rule == 11)
    assert decision.position_rate(Decimal(19)) == (Decimal(19) if expected.rule == 1 else 0)


# --- readable examples ----------------------------------------------------------------------------


def resolve(
    tax_type: TaxType | None = None,
    *,
    country: str | None = "DE",
    vat_id: str | None = None,
    rates: tuple[str, ...] = ("19",),
    kind: DocumentKind = "invoice",
    small_business: bool = False,
    until: date | None = None,
    default: TaxType = "standard",
) -> TaxDecision:
    return resolve_tax(
        small_business=small_business,
        small_business_until=until,
        default_tax_type=default,
        document_date=DOC_DATE,
        tax_type=tax_type,
        customer_country=country,
        customer_vat_id=vat_id,
        line_rates=[Decimal(r) for r in rates],
        kind=kind,
    )


def test_standard_is_rule_1_and_keeps_the_line_rates() -> None:
    decision = resolve("standard", rates=("19", "7", "0"))
    assert (decision.tax_rule, decision.rule_code) == (1, "USTPFL_UMS_EINN")
    assert not decision.zero_rated
    assert not decision.small_settlement
    assert decision.tax_text == "Umsatzsteuer"
    assert [decision.position_rate(Decimal(r)) for r in ("19", "7", "0")] == [19, 7, 0]


def test_small_business_is_rule_11_and_overrides_the_tax_type() -> None:
    decision = resolve("eu_reverse_charge", country=None, kind="voucher", small_business=True)
    assert (decision.tax_rule, decision.rule_code) == (11, "KLEINUNTERNEHMER_P19")
    assert decision.zero_rated
    assert decision.small_settlement
    assert "§ 19 UStG" in decision.tax_text
    assert decision.position_rate(Decimal(19)) == 0


def test_small_business_ends_after_its_until_date() -> None:
    assert resolve(small_business=True, until=DOC_DATE).tax_rule == 11
    assert resolve(small_business=True, until=date(2026, 3, 14)).tax_rule == 1


def test_intra_community_supply_is_rule_3() -> None:
    decision = resolve("eu_intra_community", country="FR", vat_id="FR12345678901")
    assert (decision.tax_rule, decision.rule_code) == (3, "INNERGEM_LIEF")
    assert decision.zero_rated
    assert not decision.small_settlement
    assert "innergemeinschaftliche Lieferung" in decision.tax_text


def test_eu_reverse_charge_is_rule_21() -> None:
    decision = resolve("eu_reverse_charge", country="AT", vat_id="ATU12345678", kind="order")
    assert (decision.tax_rule, decision.rule_code) == (21, "REV_CHARGE_13B_1_USTG")
    assert decision.zero_rated
    assert "Reverse Charge" in decision.tax_text


def test_export_is_rule_2() -> None:
    decision = resolve("non_eu_export", country="CH")
    assert (decision.tax_rule, decision.rule_code) == (2, "AUSFUHREN")
    assert decision.zero_rated
    assert "Ausfuhr" in decision.tax_text


def test_service_not_taxable_in_germany_is_rule_17() -> None:
    decision = resolve("non_eu_service", country="US", kind="voucher")
    assert (decision.tax_rule, decision.rule_code) == (17, "NICHT_IM_INLAND_STEUERBAR")
    assert decision.zero_rated
    assert "nicht steuerbar" in decision.tax_text


def test_the_tenant_default_applies_without_an_override() -> None:
    assert resolve(None, country="CH", default="non_eu_export").tax_rule == 2
    assert resolve("standard", country="CH", default="non_eu_export").tax_rule == 1


def test_standard_refuses_a_rate_germany_does_not_have() -> None:
    with pytest.raises(TaxRuleInvalid) as caught:
        resolve("standard", rates=("19", "16", "7"))
    assert caught.value.message == "tax type standard allows only the rates 0, 7 and 19 %, not 16 %"


def test_standard_names_every_wrong_rate_once() -> None:
    with pytest.raises(TaxRuleInvalid, match=r"not 5\.5, 16 %$"):
        resolve("standard", rates=("16", "5.50", "16.00", "19"))


def test_standard_rates_compare_by_value() -> None:
    assert resolve("standard", rates=("19.00", "7.0", "0.0000")).tax_rule == 1
    assert Decimal("19.00") in STANDARD_RATES


def test_zero_rated_rules_ignore_the_line_rates() -> None:
    # Every position goes out at 0 %, so a line's own rate cannot make the document wrong.
    assert resolve("non_eu_export", country="CH", rates=("16",)).tax_rule == 2
    assert resolve(small_business=True, rates=("16",)).tax_rule == 11


def test_messages_name_the_missing_vat_id_and_the_wrong_country() -> None:
    with pytest.raises(TaxRuleInvalid) as caught:
        resolve("eu_intra_community", country="DE", vat_id=None)
    assert caught.value.message == (
        "tax type eu_intra_community needs the customer's VAT id "
        "and a customer country in the EU other than DE (got DE)"
    )


def test_message_for_a_vat_id_without_a_country() -> None:
    with pytest.raises(TaxRuleInvalid) as caught:
        resolve("eu_reverse_charge", country=None, vat_id="ATU12345678")
    assert caught.value.message == (
        "tax type eu_reverse_charge needs a customer country in the EU other than DE "
        "(the customer has no country)"
    )


def test_message_for_export_inside_the_eu() -> None:
    with pytest.raises(TaxRuleInvalid) as caught:
        resolve("non_eu_export", country="it")
    assert caught.value.message == "tax type non_eu_export needs a customer country outside the EU (got IT)"


def test_reverse_charge_is_refused_on_vouchers_even_with_complete_data() -> None:
    with pytest.raises(TaxRuleInvalid, match="eu_reverse_charge is not allowed on a voucher"):
        resolve("eu_reverse_charge", country="FR", vat_id="FR12345678901", kind="voucher")


def test_intra_community_supply_is_allowed_on_vouchers() -> None:
    assert resolve("eu_intra_community", country="FR", vat_id="FR1", kind="voucher").tax_rule == 3


def test_country_codes_compare_upper_cased() -> None:
    assert resolve("eu_intra_community", country="fr", vat_id="FR1").tax_rule == 3
    assert resolve("non_eu_service", country=" ch ").tax_rule == 17
    with pytest.raises(TaxRuleInvalid, match=r"\(got DE\)"):
        resolve("eu_reverse_charge", country="de", vat_id="DE1")


@pytest.mark.parametrize("vat_id", ["", "   "])
def test_a_blank_vat_id_counts_as_missing(vat_id: str) -> None:
    with pytest.raises(TaxRuleInvalid, match=r"needs the customer's VAT id$"):
        resolve("eu_intra_community", country="FR", vat_id=vat_id)


def test_a_blank_country_counts_as_missing() -> None:
    with pytest.raises(TaxRuleInvalid, match="the customer has no country"):
        resolve("non_eu_service", country="  ")


def test_eu_countries_are_the_27_member_states() -> None:
    assert len(EU_COUNTRIES) == 27
    assert {"DE", "GR", "HR", "CY"} <= EU_COUNTRIES
    # Greece's VAT prefix and the states that left or never joined are not member-state codes.
    assert not {"EL", "GB", "UK", "CH", "NO"} & EU_COUNTRIES


def test_every_member_state_but_germany_allows_intra_community_supply() -> None:
    for country in sorted(EU_COUNTRIES - {"DE"}):
        assert resolve("eu_intra_community", country=country, vat_id="X1").tax_rule == 3
        with pytest.raises(TaxRuleInvalid):
            resolve("non_eu_export", country=country)


def test_tax_decision_for_reads_the_tenant_settings() -> None:
    def decide(settings: TenantSettings) -> TaxDecision:
        return tax_decision_for(
            settings,
            document_date=DOC_DATE,
            tax_type=None,
            customer_country="CH",
            customer_vat_id=None,
            line_rates=[Decimal(19)],
            kind="invoice",
        )

    assert decide(TenantSettings()).tax_rule == 1
    assert decide(TenantSettings(default_tax_type="non_eu_service")).tax_rule == 17
    assert decide(TenantSettings(small_business=True)).tax_rule == 11
    expired = TenantSettings(small_business=True, small_business_until=date(2025, 12, 31))
    assert decide(expired).tax_rule == 1
    assert expired.small_business_on(DOC_DATE) is False
