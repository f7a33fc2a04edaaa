"""`sevsync tenant doctor` and the checks `tenant settings` runs, as real subprocesses against the
sandbox and Postgres: each misconfiguration the doctor claims to catch, caught; a healthy tenant
passes; the requests one run makes, counted in the sandbox's log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.sandbox import Account
from sevsync.sandbox.server import SandboxServer
from sevsync.tenants.doctor import FULL_RUN_CALLS

from ..cli_runner import Cli, settings_env
from .harness import add_tenant
from .test_admin_api import admin_api
from .test_console import ADMIN_TOKEN as CONSOLE_TOKEN
from .test_console import console, log_in, page

TENANT = "acme"
# What docs/operations.md ("Account check") states a doctor run costs.
_README = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
_STATED = re.search(r"A full run makes \*\*(\d+) requests\*\*", _README)
assert _STATED is not None, "docs/operations.md states no request count for `tenant doctor`"
README_CALLS = int(_STATED.group(1))
HEALTHY: dict[str, Any] = {
    "units": {"hour": "2"},
    "check_accounts": {"bank": "1001"},
    "booking_accounts": {"revenue": "8400"},
    "cost_centre_id": "1005",
    "e_invoice": "all",
    "payment_methods": {"transfer": "21919"},
    "default_payment_method": "21919",
}


@pytest.fixture
def cli(db: asyncpg.Pool, settings: Settings, secret_key: str) -> Cli:
    return Cli(settings_env(settings), [secret_key])


async def _tenant(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, **changes: Any) -> Account:
    token = await add_tenant(db, settings, sandbox, TENANT, **(HEALTHY | changes))
    account = sandbox.sandbox.account(token)
    # The sandbox seeds ids in a fixed order; the settings above name them.
    assert account.find("CheckAccount", 1001) is not None
    assert account.find("CostCentre", 1005) is not None
    return account


def _statuses(stdout: str) -> dict[str, str]:
    lines = stdout.strip().splitlines()
    return {line.split(" ", 2)[1].rstrip(":"): line.split(" ", 1)[0] for line in lines}


async def test_a_healthy_tenant_passes_with_one_warning_in_seven_reads(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await _tenant(db, settings, sandbox, contact_person_id="1000", small_business=True)
    sandbox.sandbox.calls.clear()

    result = await cli("tenant", "doctor", TENANT)

    assert result.returncode == 0, result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert list(statuses) == [
        "connection", "update-2.0", "contact-person", "units", "check-accounts", "booking-accounts",
        "cost-centre", "small-business-rule", "payment-methods", "e-invoice-company-data",
    ]  # fmt: skip
    assert {check: s for check, s in statuses.items() if s != "PASS"} == {"e-invoice-company-data": "WARN"}
    calls = [(c.method, c.path) for c in sandbox.sandbox.calls if c.account_id == account.id]
    assert len(calls) == README_CALLS == FULL_RUN_CALLS
    assert {method for method, _ in calls} == {"GET"}  # read-only
    assert len(set(calls)) == len(calls)  # one request per resource


def _archive_bank(account: Account) -> None:
    record = account.find("CheckAccount", 1001)
    assert record is not None
    account.update(record, {"status": "0"})


def _version_1(account: Account) -> None:
    account.bookkeeping_version = "1.0"


def _no_rule_11(account: Account) -> None:
    account.small_business_guidance = False


def _nothing(account: Account) -> None:
    pass


@pytest.mark.parametrize(
    ("changes", "change_account", "failing", "named"),
    [
        ({"contact_person_id": "42"}, _nothing, "contact-person", "--contact-person ID"),
        ({"units": {"hour": "99"}}, _nothing, "units", "hour=99"),
        ({"check_accounts": {"bank": "4711"}}, _nothing, "check-accounts", "bank=4711"),
        ({}, _archive_bank, "check-accounts", "archived"),
        ({"booking_accounts": {"revenue": "1234"}}, _nothing, "booking-accounts", "revenue=1234"),
        ({"cost_centre_id": "77"}, _nothing, "cost-centre", "cost_centre_id 77"),
        ({"small_business": True}, _no_rule_11, "small-business-rule", "tax rule 11"),
        ({"payment_methods": {"card": "3"}}, _nothing, "payment-methods", "card=3"),
        (
            {"payment_methods": {}, "default_payment_method": None},
            _nothing,
            "payment-methods",
            "--default-payment-method ID",
        ),
        ({}, _version_1, "update-2.0", "version is 1.0"),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
async def test_each_misconfiguration_fails_its_check(
    cli: Cli,
    db: asyncpg.Pool,
    settings: Settings,
    sandbox: SandboxServer,
    changes: dict[str, Any],
    change_account: Callable[[Account], None],
    failing: str,
    named: str,
) -> None:
    change_account(await _tenant(db, settings, sandbox, **changes))

    result = await cli("tenant", "doctor", TENANT)

    assert result.returncode == 1, result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert [check for check, status in statuses.items() if status == "FAIL"] == [failing]
    [line] = [line for line in result.stdout.splitlines() if line.startswith(f"FAIL {failing}: ")]
    assert named in line
    assert result.stderr == ""


async def test_json_lists_check_status_and_detail(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox, units={"hour": "99"})

    result = await cli("tenant", "doctor", TENANT, "--json")

    assert result.returncode == 1
    lines = result.json()
    assert isinstance(lines, list)
    assert len(lines) == 10
    assert all(set(line) == {"check", "status", "detail"} for line in lines)
    assert {"check": "units", "status": "FAIL"}.items() <= lines[3].items()


@pytest.mark.parametrize("how", ["disconnected", "auth_failed"])
async def test_a_tenant_that_is_not_connected_gives_one_line_and_no_request(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, how: str
) -> None:
    await _tenant(db, settings, sandbox)
    if how == "disconnected":
        assert (await cli("tenant", "disconnect", TENANT)).returncode == 0
    else:
        await db.execute(
            "UPDATE sevsync.tenant_integration SET status = 'auth_failed' WHERE tenant_id = $1", TENANT
        )
    sandbox.sandbox.calls.clear()

    result = await cli("tenant", "doctor", TENANT)

    assert result.returncode == 1
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("FAIL connection: ")
    assert how in line
    assert f"sevsync tenant connect {TENANT}" in line
    assert sandbox.sandbox.calls == []


async def test_a_token_sevdesk_refuses_gives_one_line_after_one_request(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, TENANT)
    sandbox.sandbox.remove_account(token)  # as if the token was renewed in sevDesk
    sandbox.sandbox.calls.clear()

    result = await cli("tenant", "doctor", TENANT)

    assert result.returncode == 1
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("FAIL connection: sevDesk refused the token (HTTP 401")
    assert len(sandbox.sandbox.calls) == 1


# 401/403: the token passed its test, so a refused list fails only its check, not the connection.
@pytest.mark.parametrize(("status", "verdict"), [(500, "WARN"), (400, "FAIL"), (401, "FAIL"), (403, "FAIL")])
async def test_a_sevdesk_error_on_one_read_judges_only_its_check(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, status: int, verdict: str
) -> None:
    await _tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status",
        status=status,
        code=4242,
        message="Einheiten gesperrt",
        method="GET",
        path="^/Unity$",
        times=None,
    )

    result = await cli("tenant", "doctor", TENANT)

    assert result.returncode == (1 if verdict == "FAIL" else 0), result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert statuses.pop("units") == verdict
    assert statuses.pop("e-invoice-company-data") == "WARN"
    assert set(statuses.values()) == {"PASS"}
    [line] = [line for line in result.stdout.splitlines() if " units: " in line]
    assert f"HTTP {status}, sevDesk code 4242, Einheiten gesperrt" in line


async def test_an_unknown_tenant_is_one_line(cli: Cli) -> None:
    result = await cli("tenant", "doctor", "nobody")

    assert result.returncode == 1
    assert result.error_line() == "sevsync: error: tenant nobody is not known"
    assert result.stdout == ""


async def test_a_malformed_tenant_id_or_flag_is_one_line(cli: Cli) -> None:
    malformed = await cli("tenant", "doctor", "bad id")
    unknown_flag = await cli("tenant", "doctor", TENANT, "--jsn")

    assert malformed.returncode == 1
    assert "tenant id 'bad id' must be 1-64 characters" in malformed.error_line()
    assert unknown_flag.returncode == 2
    assert "unrecognized arguments: --jsn" in unknown_flag.error_line()


async def test_settings_without_secret_keys_warn_and_store(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox)

    result = await cli("tenant", "settings", TENANT, "--unit", "day=3", env={"SEVSYNC_SECRET_KEYS": ""})

    assert result.returncode == 0, result.stderr
    line = result.error_line()
    assert line.startswith("WARN connection: stored, but the checks could not run: SEVSYNC_SECRET_KEYS")
    stored = await db.fetchval("SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = $1", TENANT)
    assert stored["units"] == {"hour": "2", "day": "3"}


async def test_help_names_every_flag(cli: Cli) -> None:
    result = await cli("tenant", "doctor", "--help")

    assert result.returncode == 0
    assert "--json" in result.stdout
    assert "exit 1" in result.stdout.lower() or "status 1" in result.stdout


# --- the checks `tenant settings` runs after storing ----------------------------------------------


async def test_settings_runs_the_checks_the_change_concerns(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox)

    result = await cli("tenant", "settings", TENANT, "--unit", "day=99", "--cost-centre", "1006")

    assert result.returncode == 0, result.stderr  # stored: the checks advise, they do not refuse
    assert result.json()["units"] == {"hour": "2", "day": "99"}  # stdout stays the settings
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("FAIL units: unit(s) day=99 name no sevDesk Unity")
    assert lines[1] == "PASS cost-centre: cost centre 1006 (Projekte) exists"
    assert f"sevsync tenant doctor {TENANT}" in lines[2]
    assert len(lines) == 3
    stored = await db.fetchval("SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = $1", TENANT)
    assert stored["units"] == {"hour": "2", "day": "99"}


async def test_the_e_invoice_flags_run_the_payment_method_and_company_data_checks(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox, e_invoice="off", payment_methods={}, default_payment_method=None)

    without_method = await cli("tenant", "settings", TENANT, "--e-invoice", "all")
    with_unknown = await cli("tenant", "settings", TENANT, "--default-payment-method", "4711")
    with_known = await cli(
        "tenant",
        "settings",
        TENANT,
        "--default-payment-method",
        "21919",
        "--payment-method",
        "transfer=21919",
    )

    assert without_method.returncode == 0, without_method.stderr
    assert without_method.json()["e_invoice"] == "all"
    first = without_method.stderr
    assert "FAIL payment-methods:" in first
    assert "WARN e-invoice-company-data:" in first
    assert "FAIL payment-methods:" in with_unknown.stderr
    assert "4711" in with_unknown.stderr
    assert "PASS payment-methods:" in with_known.stderr
    assert "FAIL" not in with_known.stderr


async def test_settings_without_a_concerned_check_calls_no_one(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox)
    sandbox.sandbox.calls.clear()

    result = await cli("tenant", "settings", TENANT, "--voucher-due-days", "30", "--disable")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sandbox.sandbox.calls == []


async def test_settings_of_a_tenant_that_is_not_connected_warn_and_store(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox)
    assert (await cli("tenant", "disconnect", TENANT)).returncode == 0

    result = await cli("tenant", "settings", TENANT, "--small-business")

    assert result.returncode == 0, result.stderr
    assert result.json()["small_business"] is True
    line = result.error_line()
    assert line.startswith("WARN connection: tenant acme is not connected")
    assert "stored unchecked" in line
    stored = await db.fetchval("SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = $1", TENANT)
    assert stored["small_business"] is True


# --- the admin API ---------------------------------------------------------------------------------


async def test_the_admin_api_answers_the_doctor_and_checks_changed_settings(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox, units={"hour": "99"})
    async with admin_api(settings) as (_, api):
        report = await api.call("GET", f"/api/v1/tenants/{TENANT}/doctor")
        await api.call("GET", "/api/v1/tenants/nobody/doctor", expect=404)
        await api.call("GET", "/api/v1/tenants/bad%20id/doctor", expect=400)
        changed = await api.call("PATCH", f"/api/v1/tenants/{TENANT}/settings", json={"units": {"hour": "2"}})
        plain = await api.call("PATCH", f"/api/v1/tenants/{TENANT}/settings", json={"voucher_due_days": 3})
        healthy = await api.call("GET", f"/api/v1/tenants/{TENANT}/doctor")

    assert report["tenant_id"] == TENANT
    assert report["failed"] is True
    assert [line["check"] for line in report["checks"] if line["status"] == "FAIL"] == ["units"]
    assert len(report["checks"]) == 10
    assert changed["settings"]["units"] == {"hour": "2"}
    assert changed["checks"] == [
        {
            "check": "units",
            "status": "PASS",
            "detail": "1 mapped unit(s) exist; unmapped units become Unity 1 (piece)",
        }
    ]
    assert plain["checks"] == []
    assert healthy["failed"] is False


async def test_the_admin_api_doctor_of_a_disconnected_tenant_is_one_line(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _tenant(db, settings, sandbox)
    async with admin_api(settings) as (_, api):
        await api.call("DELETE", f"/api/v1/tenants/{TENANT}/connection")
        report = await api.call("GET", f"/api/v1/tenants/{TENANT}/doctor")
        changed = await api.call("PATCH", f"/api/v1/tenants/{TENANT}/settings", json={"cost_centre_id": "1"})

    assert report["failed"] is True
    [line] = report["checks"]
    assert (line["check"], line["status"]) == ("connection", "FAIL")
    [warning] = changed["checks"]
    assert (warning["check"], warning["status"]) == ("connection", "WARN")
    assert changed["settings"]["cost_centre_id"] == "1"


# --- the console's tenant page ----------------------------------------------------------------------


async def test_the_console_tenant_page_runs_the_doctor_on_request(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    console_settings = settings.model_copy(update={"admin_token": SecretStr(CONSOLE_TOKEN)})
    account = await _tenant(db, console_settings, sandbox, units={"hour": "99"})
    async with console(console_settings) as session:
        await log_in(session)
        sandbox.sandbox.calls.clear()
        plain = await page(session, f"/tenants/{TENANT}")
        viewing_costs = len(sandbox.sandbox.calls)
        checked = await page(session, f"/doctor?tenant={TENANT}")
        await page(session, "/doctor?tenant=nobody", status=404)
        async with session.get(f"/doctor?tenant={TENANT}", allow_redirects=False) as response:
            assert response.status == 200
        session.cookie_jar.clear()
        async with session.get(f"/doctor?tenant={TENANT}", allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/login")
        doctor_costs = len(sandbox.sandbox.calls)

    assert viewing_costs == 0  # showing the page reads nothing from sevDesk
    assert 'id="run-doctor"' in plain
    assert 'id="doctor"' not in plain
    rows = re.findall(
        r'<tr class="doctor-line doctor-(\w+)" data-check="([\w.-]+)" data-status="(\w+)">', checked
    )
    assert len(rows) == 10
    assert [(check, status) for css, check, status in rows if css != "pass"] == [
        ("units", "FAIL"),
        ("e-invoice-company-data", "WARN"),
    ]
    assert all(css == status.lower() for css, _, status in rows)
    assert "hour=99" in checked
    assert (
        doctor_costs == 2 * FULL_RUN_CALLS
    )  # two runs; the unknown tenant and the logged-out one read nothing
    assert {call.account_id for call in sandbox.sandbox.calls} == {account.id}
