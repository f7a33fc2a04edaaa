"""The account check's verdicts (tenants/doctor_checks.py), on facts made up here: no sevDesk."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sevsync.sync.tax import allows_small_business
from sevsync.tenants import doctor_checks as dc
from sevsync.tenants.settings import TenantSettings

TODAY = date(2026, 12, 5)


def _guidance(number: str, *rules: int, kind: str = "REVENUE") -> dict[str, Any]:
    return {
        "accountDatevId": 5000 + int(number[-2:]),
        "accountNumber": number,
        "allowedTaxRules": [{"id": rule, "name": f"RULE_{rule}", "taxRates": ["ZERO"]} for rule in rules],
        "allowedReceiptTypes": [kind],
    }


ACCOUNT: dict[str, tuple[dict[str, Any], ...]] = {
    dc.SEV_USERS: ({"id": "1000", "fullname": "Sandra Sandbox"}, {"id": "999", "fullname": "Erster"}),
    dc.UNITIES: ({"id": "1", "name": "Stk"}, {"id": "2", "name": "Std"}),
    dc.CHECK_ACCOUNT_LIST: (
        {"id": "5", "name": "Bank", "status": "100"},
        {"id": "6", "name": "Alt", "status": "0"},
    ),
    dc.REVENUE_GUIDANCE: (
        _guidance("8400", 1, 11),
        _guidance("8120", 2),
        _guidance("4930", 9, kind="EXPENSE"),
    ),
    dc.COST_CENTRES: ({"id": "77", "name": "Vertrieb"},),
    dc.PAYMENT_METHOD_LIST: ({"id": "21919", "name": "Überweisung"},),
}


def _facts(version: str = "2.0", **replaced: dc.Read) -> dc.Facts:
    reads = {path: dc.Read(objects) for path, objects in ACCOUNT.items()}
    reads.update({getattr(dc, name): read for name, read in replaced.items()})
    return dc.Facts(version, reads)


def _line(check: str, settings: TenantSettings, facts: dc.Facts | None = None) -> dc.CheckLine:
    [line] = dc.evaluate("acme", settings, facts or _facts(), [check], TODAY)
    assert line.check == check
    return line


HEALTHY = TenantSettings(
    contact_person_id="1000",
    units={"hour": "2"},
    check_accounts={"bank": "5"},
    booking_accounts={"revenue": "8400"},
    cost_centre_id="77",
    e_invoice="all",
    payment_methods={"transfer": "21919"},
    default_payment_method="21919",
)


def test_a_healthy_tenant_passes_everything_but_the_company_data_sevdesk_cannot_show() -> None:
    lines = dc.evaluate("acme", HEALTHY, _facts(), dc.CHECKS, TODAY)

    assert [line.check for line in lines] == list(dc.CHECKS)
    assert {line.check: line.status for line in lines if line.status != "PASS"} == {dc.E_INVOICE_DATA: "WARN"}
    assert not dc.has_failure(lines)
    company = lines[-1].detail
    for named in ("street", "zip", "city", "IBAN", "BIC", "e-mail", "phone", "tax number"):
        assert named in company


@pytest.mark.parametrize(
    ("check", "settings", "named"),
    [
        (dc.CONTACT_PERSON, HEALTHY.model_copy(update={"contact_person_id": "42"}), "--contact-person ID"),
        (dc.UNITS, HEALTHY.model_copy(update={"units": {"hour": "99"}}), "hour=99"),
        (dc.CHECK_ACCOUNTS, HEALTHY.model_copy(update={"check_accounts": {"bank": "4"}}), "bank=4"),
        (dc.CHECK_ACCOUNTS, HEALTHY.model_copy(update={"check_accounts": {"old": "6"}}), "archived"),
        (dc.BOOKING_ACCOUNTS, HEALTHY.model_copy(update={"booking_accounts": {"x": "1234"}}), "x=1234"),
        # An expense account is no revenue account for a voucher.
        (dc.BOOKING_ACCOUNTS, HEALTHY.model_copy(update={"booking_accounts": {"x": "4930"}}), "x=4930"),
        (dc.COST_CENTRE, HEALTHY.model_copy(update={"cost_centre_id": "78"}), "--no-cost-centre"),
        (dc.PAYMENT_METHODS, HEALTHY.model_copy(update={"payment_methods": {"card": "3"}}), "card=3"),
        (dc.PAYMENT_METHODS, HEALTHY.model_copy(update={"default_payment_method": "3"}), "(default)=3"),
        (
            dc.PAYMENT_METHODS,
            HEALTHY.model_copy(update={"payment_methods": {}, "default_payment_method": None}),
            "--default-payment-method ID",
        ),
    ],
)
def test_each_misconfiguration_fails_and_says_what_to_change(
    check: str, settings: TenantSettings, named: str
) -> None:
    line = _line(check, settings)

    assert line.status == "FAIL", line
    assert named in line.detail
    assert line.text().startswith(f"FAIL {check}: ")


def test_the_contact_person_defaults_to_the_lowest_user_id_and_fails_without_users() -> None:
    assert "999 (Erster)" in _line(dc.CONTACT_PERSON, TenantSettings()).detail
    empty = _line(dc.CONTACT_PERSON, TenantSettings(), _facts(SEV_USERS=dc.Read(())))
    assert empty.status == "FAIL"


def test_unmapped_units_need_the_piece_unity() -> None:
    line = _line(dc.UNITS, TenantSettings(), _facts(UNITIES=dc.Read(({"id": "2"},))))
    assert line.status == "FAIL"
    assert "Unity 1" in line.detail


def test_no_check_account_mapped_is_a_warning() -> None:
    line = _line(dc.CHECK_ACCOUNTS, TenantSettings())
    assert line.status == "WARN"
    assert "5 (Bank)" in line.detail
    assert "6 (Alt)" not in line.detail


def test_rule_11_counts_only_at_the_zero_rate_as_for_the_sync() -> None:
    small = TenantSettings(small_business=True, booking_accounts={"r": "8400"})
    at_19 = _guidance("8400", 11)
    at_19["allowedTaxRules"][0]["taxRates"] = ["NINETEEN"]
    line = _line(dc.SMALL_BUSINESS_RULE, small, _facts(REVENUE_GUIDANCE=dc.Read((at_19,))))
    assert line.status == "FAIL"
    assert [allows_small_business(a) for a in (at_19, _guidance("8400", 11), _guidance("8400", 1))] == [
        False,
        True,
        False,
    ]


def test_the_small_business_rule() -> None:
    small = TenantSettings(small_business=True, booking_accounts={"r": "8400"})
    assert _line(dc.SMALL_BUSINESS_RULE, small).status == "PASS"
    # The scheme ended: rule 11 is not needed any more.
    ended = small.model_copy(update={"small_business_until": date(2026, 1, 31)})
    assert _line(dc.SMALL_BUSINESS_RULE, ended).detail.startswith("not a small")
    # No revenue account offers rule 11: nothing can be booked.
    without = _facts(REVENUE_GUIDANCE=dc.Read((_guidance("8400", 1), _guidance("8120", 2))))
    assert _line(dc.SMALL_BUSINESS_RULE, small, without).status == "FAIL"
    # Some account does, but not the mapped one.
    elsewhere = small.model_copy(update={"booking_accounts": {"r": "8120"}})
    line = _line(dc.SMALL_BUSINESS_RULE, elsewhere)
    assert line.status == "WARN"
    assert "8120" in line.detail
    assert "8400" in line.detail


def test_payment_methods_with_e_invoices_on_and_no_default_warn() -> None:
    line = _line(dc.PAYMENT_METHODS, HEALTHY.model_copy(update={"default_payment_method": None}))
    assert line.status == "WARN"
    off = TenantSettings()
    assert _line(dc.PAYMENT_METHODS, off).status == "PASS"
    assert _line(dc.E_INVOICE_DATA, off).status == "PASS"


def test_update_2_0() -> None:
    assert _line(dc.UPDATE_2, HEALTHY).status == "PASS"
    line = _line(dc.UPDATE_2, HEALTHY, _facts(version="1.0"))
    assert line.status == "FAIL"
    assert "1.0" in line.detail


@pytest.mark.parametrize(("transient", "status"), [(True, "WARN"), (False, "FAIL")])
def test_a_failed_read_judges_only_the_checks_that_needed_it(transient: bool, status: str) -> None:
    broken = dc.Read(failure="HTTP 500, sevDesk code 42, Interner Fehler", transient=transient)
    lines = dc.evaluate("acme", HEALTHY, _facts(UNITIES=broken), dc.CHECKS, TODAY)

    by_check = {line.check: line for line in lines}
    assert by_check[dc.UNITS].status == status
    assert "sevDesk code 42, Interner Fehler" in by_check[dc.UNITS].detail
    assert "GET /Unity" in by_check[dc.UNITS].detail
    assert by_check[dc.CONTACT_PERSON].status == "PASS"


@pytest.mark.parametrize(
    ("status", "provider", "named"),
    [
        ("disconnected", "sevdesk", "not connected"),
        ("auth_failed", "sevdesk", "auth_failed"),
        ("connected", "lexware", "lexware"),
    ],
)
def test_a_tenant_sevsync_cannot_reach_gives_one_connection_line(
    status: str, provider: str, named: str
) -> None:
    line = dc.not_connected("acme", status, provider)
    assert (line.check, line.status) == (dc.CONNECTION, "FAIL")
    assert named in line.detail
    assert "sevsync tenant connect acme" in line.detail


@pytest.mark.parametrize(
    ("changed", "checks"),
    [
        (["units"], (dc.UNITS,)),
        (["e_invoice"], (dc.PAYMENT_METHODS, dc.E_INVOICE_DATA)),
        (["payment_methods", "default_payment_method"], (dc.PAYMENT_METHODS,)),
        (["small_business", "booking_accounts"], (dc.BOOKING_ACCOUNTS, dc.SMALL_BUSINESS_RULE)),
        (
            ["contact_person_id", "cost_centre_id", "check_accounts"],
            (dc.CONTACT_PERSON, dc.CHECK_ACCOUNTS, dc.COST_CENTRE),
        ),
        (["voucher_due_days", "auto_sync_customers", "enabled"], ()),
    ],
)
def test_changed_settings_name_their_checks(changed: list[str], checks: tuple[str, ...]) -> None:
    assert dc.checks_for(changed) == checks


def test_every_setting_with_a_check_is_a_setting_and_every_check_reads_a_known_list() -> None:
    assert set(dc.SETTING_CHECKS) <= set(TenantSettings.model_fields)
    assert set(dc.RESOURCE_OF) <= set(dc.CHECKS)
    assert {c for checks in dc.SETTING_CHECKS.values() for c in checks} <= set(dc.CHECKS)


def test_json_shape() -> None:
    line = dc.CheckLine(dc.UNITS, "WARN", "x")
    assert line.as_json() == {"check": "units", "status": "WARN", "detail": "x"}
