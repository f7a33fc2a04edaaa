"""The account check's verdicts (`sevsync tenant doctor`), pure: what was read from sevDesk and the
tenant's settings in, one line per check out; no I/O.

Each check says PASS, WARN or FAIL and, where it is not PASS, what to change where. `doctor.py`
reads the account (one list request per resource) and hands the reads to `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from ..sync.tax import allows_small_business
from .settings import TenantSettings

Status = Literal["PASS", "WARN", "FAIL"]

CONNECTION = "connection"
UPDATE_2 = "update-2.0"
CONTACT_PERSON = "contact-person"
UNITS = "units"
CHECK_ACCOUNTS = "check-accounts"
BOOKING_ACCOUNTS = "booking-accounts"
COST_CENTRE = "cost-centre"
SMALL_BUSINESS_RULE = "small-business-rule"
PAYMENT_METHODS = "payment-methods"
E_INVOICE_DATA = "e-invoice-company-data"

# Every check, in the order the lines are printed. `connection` always runs (and may end the run).
CHECKS: tuple[str, ...] = (
    CONNECTION,
    UPDATE_2,
    CONTACT_PERSON,
    UNITS,
    CHECK_ACCOUNTS,
    BOOKING_ACCOUNTS,
    COST_CENTRE,
    SMALL_BUSINESS_RULE,
    PAYMENT_METHODS,
    E_INVOICE_DATA,
)

# The sevDesk list each check reads (paths below the API base); a check without one reads nothing.
VERSION = "/Tools/bookkeepingSystemVersion"
SEV_USERS = "/SevUser"
UNITIES = "/Unity"
CHECK_ACCOUNT_LIST = "/CheckAccount"
REVENUE_GUIDANCE = "/ReceiptGuidance/forRevenue"
COST_CENTRES = "/CostCentre"
PAYMENT_METHOD_LIST = "/PaymentMethod"
RESOURCE_OF: Mapping[str, str] = {
    UPDATE_2: VERSION,
    CONTACT_PERSON: SEV_USERS,
    UNITS: UNITIES,
    CHECK_ACCOUNTS: CHECK_ACCOUNT_LIST,
    BOOKING_ACCOUNTS: REVENUE_GUIDANCE,
    COST_CENTRE: COST_CENTRES,
    SMALL_BUSINESS_RULE: REVENUE_GUIDANCE,
    PAYMENT_METHODS: PAYMENT_METHOD_LIST,
}

# Which checks a changed setting concerns (`tenant settings` runs them after storing). A setting
# not named here changes nothing sevDesk must hold.
SETTING_CHECKS: Mapping[str, tuple[str, ...]] = {
    "contact_person_id": (CONTACT_PERSON,),
    "units": (UNITS,),
    "check_accounts": (CHECK_ACCOUNTS,),
    "booking_accounts": (BOOKING_ACCOUNTS, SMALL_BUSINESS_RULE),
    "cost_centre_id": (COST_CENTRE,),
    "small_business": (SMALL_BUSINESS_RULE,),
    "small_business_until": (SMALL_BUSINESS_RULE,),
    "e_invoice": (PAYMENT_METHODS, E_INVOICE_DATA),
    "payment_methods": (PAYMENT_METHODS,),
    "default_payment_method": (PAYMENT_METHODS,),
}

REQUIRED_VERSION = "2.0"
PIECE_UNITY_ID = "1"  # what a CRM unit without a mapping becomes (see sync/part_mapping.py)
ARCHIVED = "0"  # CheckAccount.status: 0 archived, 100 active
LISTED = 8  # ids named in a line at most, so that it stays one readable line


@dataclass(frozen=True)
class CheckLine:
    check: str
    status: Status
    detail: str

    def text(self) -> str:
        return f"{self.status} {self.check}: {self.detail}"

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Read:
    """One list read from sevDesk: its objects, or why it failed (sevDesk's status, code, message)."""

    objects: tuple[dict[str, Any], ...] = ()
    failure: str | None = None
    transient: bool = False  # worth running the doctor again later


@dataclass(frozen=True)
class Facts:
    """What the doctor read: the bookkeeping version and the lists, by path."""

    version: str | None = None
    reads: Mapping[str, Read] = field(default_factory=dict)


def checks_for(changed: Iterable[str]) -> tuple[str, ...]:
    """The checks the changed setting keys concern, in print order (none for plain switches)."""
    wanted = {check for key in changed for check in SETTING_CHECKS.get(key, ())}
    return tuple(check for check in CHECKS if check in wanted)


def has_failure(lines: Iterable[CheckLine]) -> bool:
    return any(line.status == "FAIL" for line in lines)


def not_connected(tenant_id: str, status: str, provider: str) -> CheckLine:
    """The single line for a tenant sevsync cannot reach sevDesk for."""
    if provider != "sevdesk":
        why = f"tenant {tenant_id} is connected to {provider}, not sevDesk"
    elif status == "auth_failed":
        why = f"sevDesk refused tenant {tenant_id}'s token (status auth_failed)"
    else:
        why = f"tenant {tenant_id} is not connected to sevDesk (status {status})"
    return CheckLine(
        CONNECTION, "FAIL", f"{why}; connect it with a working API token: `{_connect(tenant_id)}`"
    )


def connection_failed(tenant_id: str, reason: str) -> CheckLine:
    return CheckLine(
        CONNECTION, "FAIL", f"{reason}; if the token was renewed or its user removed: `{_connect(tenant_id)}`"
    )


def _connect(tenant_id: str) -> str:
    return f"echo TOKEN | sevsync tenant connect {tenant_id}"


def evaluate(
    tenant_id: str, settings: TenantSettings, facts: Facts, checks: Iterable[str], today: date
) -> list[CheckLine]:
    """One line per check asked for (after the connection worked), in print order."""
    wanted = set(checks)
    context = _Context(tenant_id, settings, facts, today)
    lines = []
    for check in CHECKS:
        if check not in wanted:
            continue
        if check == CONNECTION:
            lines.append(CheckLine(CONNECTION, "PASS", "sevDesk accepted the tenant's API token"))
            continue
        failed = _read_failure(check, facts)
        lines.append(failed if failed is not None else _VERDICTS[check](context))
    return lines


@dataclass(frozen=True)
class _Context:
    tenant_id: str
    settings: TenantSettings
    facts: Facts
    today: date

    def objects(self, path: str) -> tuple[dict[str, Any], ...]:
        read = self.facts.reads.get(path)
        return read.objects if read is not None else ()

    def by_id(self, path: str) -> dict[str, dict[str, Any]]:
        return {str(o.get("id")): o for o in self.objects(path) if o.get("id") is not None}

    def flag(self, option: str) -> str:
        return f"`sevsync tenant settings {self.tenant_id} {option}`"


def _read_failure(check: str, facts: Facts) -> CheckLine | None:
    path = RESOURCE_OF.get(check)
    read = facts.reads.get(path) if path is not None and path != VERSION else None
    if read is None or read.failure is None:
        return None
    if read.transient:
        return CheckLine(check, "WARN", f"could not read GET {path} ({read.failure}); run the doctor again")
    return CheckLine(check, "FAIL", f"sevDesk refused GET {path} ({read.failure})")


def _update_2(c: _Context) -> CheckLine:
    version = c.facts.version
    if version == REQUIRED_VERSION:
        return CheckLine(UPDATE_2, "PASS", "the account is on sevdesk-Update 2.0 (bookkeeping system 2.0)")
    return CheckLine(
        UPDATE_2,
        "FAIL",
        f"the account's bookkeeping system version is {version or 'unknown'}; sevsync writes only to "
        f"accounts on sevdesk-Update {REQUIRED_VERSION}: have the account moved to it in sevDesk",
    )


def _name(obj: Mapping[str, Any], *keys: str) -> str:
    return next((str(obj[k]) for k in keys if obj.get(k)), "")


def _listing(objects: Mapping[str, Mapping[str, Any]], *keys: str) -> str:
    """`1001 (Sandra Sandbox), ...`: the ids an operator may choose from."""
    shown = [f"{oid} ({_name(o, *keys)})" if _name(o, *keys) else oid for oid, o in objects.items()]
    extra = f", and {len(shown) - LISTED} more" if len(shown) > LISTED else ""
    return (", ".join(shown[:LISTED]) + extra) or "none"


def _contact_person(c: _Context) -> CheckLine:
    users = c.by_id(SEV_USERS)
    wanted = c.settings.contact_person_id
    if wanted is not None:
        if wanted in users:
            who = _name(users[wanted], "fullname", "username")
            return CheckLine(CONTACT_PERSON, "PASS", f"SevUser {wanted} ({who}) signs orders and invoices")
        return CheckLine(
            CONTACT_PERSON,
            "FAIL",
            f"contact_person_id {wanted} is no SevUser of the account; name one with "
            f"{c.flag('--contact-person ID')} (users: {_listing(users, 'fullname', 'username')})",
        )
    if not users:
        return CheckLine(
            CONTACT_PERSON,
            "FAIL",
            "the account lists no SevUser to sign orders and invoices; add a user in sevDesk",
        )
    first = min(users, key=lambda uid: (len(uid), uid))  # the lowest id, as sync/lookups.py picks
    who = _name(users[first], "fullname", "username")
    return CheckLine(CONTACT_PERSON, "PASS", f"none set: the first SevUser, {first} ({who}), signs documents")


def _unknown_ids(mapping: Mapping[str, str], known: Mapping[str, Any]) -> dict[str, str]:
    return {key: value for key, value in mapping.items() if value not in known}


def _pairs(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in mapping.items())


def _units(c: _Context) -> CheckLine:
    unities = c.by_id(UNITIES)
    unknown = _unknown_ids(c.settings.units, unities)
    if unknown:
        return CheckLine(
            UNITS,
            "FAIL",
            f"unit(s) {_pairs(unknown)} name no sevDesk Unity; map them with {c.flag('--unit NAME=ID')} "
            f"(units: {_listing(unities, 'name')})",
        )
    if PIECE_UNITY_ID not in unities:
        return CheckLine(
            UNITS, "FAIL", f"Unity {PIECE_UNITY_ID} (piece), used for unmapped units, is not in the account"
        )
    mapped = f"{len(c.settings.units)} mapped unit(s) exist" if c.settings.units else "no unit mapped"
    return CheckLine(UNITS, "PASS", f"{mapped}; unmapped units become Unity {PIECE_UNITY_ID} (piece)")


def _check_accounts(c: _Context) -> CheckLine:
    accounts = c.by_id(CHECK_ACCOUNT_LIST)
    mapping = c.settings.check_accounts
    fix = c.flag("--check-account METHOD=ID")
    choices = f"active accounts: {_listing(_active(accounts), 'name')}"
    unknown = _unknown_ids(mapping, accounts)
    if unknown:
        return CheckLine(
            CHECK_ACCOUNTS, "FAIL", f"{_pairs(unknown)}: no such check account; fix with {fix} ({choices})"
        )
    archived = {m: a for m, a in mapping.items() if str(accounts[a].get("status")) == ARCHIVED}
    if archived:
        return CheckLine(
            CHECK_ACCOUNTS,
            "FAIL",
            f"{_pairs(archived)}: archived in sevDesk, payments cannot be booked there; reactivate it in "
            f"sevDesk or map another with {fix} ({choices})",
        )
    if not mapping:
        return CheckLine(
            CHECK_ACCOUNTS,
            "WARN",
            f"no payment method mapped: payments fail until one is, with {fix} ({choices})",
        )
    return CheckLine(CHECK_ACCOUNTS, "PASS", f"{len(mapping)} payment method(s) map to active check accounts")


def _active(accounts: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {aid: a for aid, a in accounts.items() if str(a.get("status")) != ARCHIVED}


def _revenue_accounts(c: _Context) -> dict[str, dict[str, Any]]:
    """Booking accounts sevDesk offers for revenue vouchers, by SKR number."""
    return {
        str(a.get("accountNumber")): a
        for a in c.objects(REVENUE_GUIDANCE)
        if a.get("accountNumber") is not None and "REVENUE" in (a.get("allowedReceiptTypes") or ["REVENUE"])
    }


def _booking_accounts(c: _Context) -> CheckLine:
    known = _revenue_accounts(c)
    unknown = _unknown_ids(c.settings.booking_accounts, known)
    if unknown:
        return CheckLine(
            BOOKING_ACCOUNTS,
            "FAIL",
            f"{_pairs(unknown)}: no revenue booking account with that number in sevDesk's ReceiptGuidance; "
            f"fix with {c.flag('--booking-account CODE=NUMBER')} (numbers: {', '.join(sorted(known))})",
        )
    if not c.settings.booking_accounts:
        return CheckLine(
            BOOKING_ACCOUNTS,
            "PASS",
            f"no code mapped: a line's accounting code is its SKR number ({len(known)} revenue accounts)",
        )
    return CheckLine(
        BOOKING_ACCOUNTS, "PASS", f"{len(c.settings.booking_accounts)} mapped code(s) name revenue accounts"
    )


def _small_business_rule(c: _Context) -> CheckLine:
    settings = c.settings
    if not settings.small_business_on(c.today):
        ended = f" (it ended {settings.small_business_until})" if settings.small_business else ""
        return CheckLine(
            SMALL_BUSINESS_RULE, "PASS", f"not a small business today{ended}: tax rule 11 not needed"
        )
    accounts = _revenue_accounts(c)
    offering = sorted(n for n, a in accounts.items() if allows_small_business(a))
    if not offering:
        return CheckLine(
            SMALL_BUSINESS_RULE,
            "FAIL",
            "small_business is on, but no revenue booking account allows tax rule 11 (§19 UStG): set the "
            f"account up for the Kleinunternehmer scheme in sevDesk, or {c.flag('--no-small-business')}",
        )
    used = set(settings.booking_accounts.values())
    refusing = sorted(n for n in used if n in accounts and n not in offering)
    if refusing:
        return CheckLine(
            SMALL_BUSINESS_RULE,
            "WARN",
            f"mapped account(s) {', '.join(refusing)} do not allow tax rule 11, so vouchers on them fail; "
            f"map codes to one of {', '.join(offering)} with {c.flag('--booking-account CODE=NUMBER')}",
        )
    return CheckLine(
        SMALL_BUSINESS_RULE, "PASS", f"tax rule 11 is allowed on account(s) {', '.join(offering)}"
    )


def _cost_centre(c: _Context) -> CheckLine:
    centres = c.by_id(COST_CENTRES)
    wanted = c.settings.cost_centre_id
    if wanted is None:
        return CheckLine(COST_CENTRE, "PASS", "none set: vouchers carry no cost centre")
    if wanted in centres:
        return CheckLine(
            COST_CENTRE, "PASS", f"cost centre {wanted} ({_name(centres[wanted], 'name')}) exists"
        )
    return CheckLine(
        COST_CENTRE,
        "FAIL",
        f"cost_centre_id {wanted} is no CostCentre of the account; fix with {c.flag('--cost-centre ID')} "
        f"or {c.flag('--no-cost-centre')} (cost centres: {_listing(centres, 'name')})",
    )


def _payment_methods(c: _Context) -> CheckLine:
    methods = c.by_id(PAYMENT_METHOD_LIST)
    settings = c.settings
    choices = f"methods: {_listing(methods, 'name')}"
    unknown = _unknown_ids(settings.payment_methods, methods)
    default = settings.default_payment_method
    if default is not None and default not in methods:
        unknown["(default)"] = default
    if unknown:
        return CheckLine(
            PAYMENT_METHODS,
            "FAIL",
            f"{_pairs(unknown)}: no such PaymentMethod; fix with {c.flag('--payment-method METHOD=ID')} "
            f"or {c.flag('--default-payment-method ID')} ({choices})",
        )
    on = settings.e_invoice != "off"
    if on and not settings.payment_methods and default is None:
        return CheckLine(
            PAYMENT_METHODS,
            "FAIL",
            f"e_invoice is {settings.e_invoice}, and an e-invoice needs a payment method, but none is mapped "
            f"and no default set; set {c.flag('--default-payment-method ID')} ({choices})",
        )
    if on and default is None:
        return CheckLine(
            PAYMENT_METHODS,
            "WARN",
            "no default: e-invoices of deals naming no mapped method fail; set "
            f"{c.flag('--default-payment-method ID')} ({choices})",
        )
    mapped = len(settings.payment_methods) + (default is not None)
    return CheckLine(
        PAYMENT_METHODS, "PASS", f"{mapped} mapped payment method(s) exist" if mapped else "none mapped"
    )


# What sevDesk needs on the account's own company (SevClient) before it issues an e-invoice.
COMPANY_FIELDS = "street, zip, city, IBAN, BIC, e-mail, phone and tax number"


def _e_invoice_data(c: _Context) -> CheckLine:
    if c.settings.e_invoice == "off":
        return CheckLine(
            E_INVOICE_DATA, "PASS", "e-invoices are off (e_invoice=off): the company data is not needed"
        )
    return CheckLine(
        E_INVOICE_DATA,
        "WARN",
        "sevDesk's API offers no read of the account's own company data, so verify in the sevDesk web app's "
        f"company settings that {COMPANY_FIELDS} are filled in (the VAT id may stay empty for a small "
        "business); sevDesk refuses e-invoices without them",
    )


_VERDICTS: Mapping[str, Callable[[_Context], CheckLine]] = {
    UPDATE_2: _update_2,
    CONTACT_PERSON: _contact_person,
    UNITS: _units,
    CHECK_ACCOUNTS: _check_accounts,
    BOOKING_ACCOUNTS: _booking_accounts,
    COST_CENTRE: _cost_centre,
    SMALL_BUSINESS_RULE: _small_business_rule,
    PAYMENT_METHODS: _payment_methods,
    E_INVOICE_DATA: _e_invoice_data,
}
