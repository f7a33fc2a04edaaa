"""`sevsync tenant ...` (and the CLI's error handling) driven as a real subprocess.

The sandbox serves from this test's event loop, so every command runs through
`asyncio.create_subprocess_exec` and is awaited: a blocking `subprocess.run` would starve it.
Every command's stdout and stderr are checked for every API token and key the test used.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Sequence
from typing import Any

import aio_pika
import asyncpg
import pytest
from cryptography.fernet import Fernet, InvalidToken

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.settings import TenantSettings

from ..cli_runner import Cli, settings_env
from ..conftest import Services
from .harness import new_token

TENANT = "acme"


@pytest.fixture
def cli(db: asyncpg.Pool, settings: Settings, secret_key: str) -> Cli:
    return Cli(settings_env(settings), [secret_key])


async def _row(db: asyncpg.Pool, tenant: str = TENANT) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM sevsync.tenant_integration WHERE tenant_id = $1", tenant)


async def _connected(cli: Cli, sandbox: SandboxServer, tenant: str = TENANT) -> str:
    """A sandbox account and a tenant connected to it through the CLI; returns the token."""
    token = new_token()
    sandbox.sandbox.add_account(token)
    result = await cli.connect(token, tenant)
    assert result.returncode == 0, result.stderr
    return token


async def _insert_tenant(db: asyncpg.Pool, tenant: str = TENANT) -> None:
    """A connected tenant written directly, for tests about what follows the connect."""
    await db.execute(
        """
        INSERT INTO sevsync.tenant_integration (tenant_id, provider, status, token_encrypted, connected_at)
        VALUES ($1, 'sevdesk', 'connected', 'ciphertext', now())
        """,
        tenant,
    )


async def _settings(db: asyncpg.Pool, tenant: str = TENANT) -> dict[str, Any]:
    row = await _row(db, tenant)
    assert row is not None
    settings: dict[str, Any] = row["settings"]
    return settings


async def _insert_link(db: asyncpg.Pool, entity_id: str = "cust-1") -> None:
    await db.execute(
        """
        INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)
        VALUES ($1, 'customer', $2, 'Contact', '4711')
        """,
        TENANT,
        entity_id,
    )


# --- connect ---------------------------------------------------------------------------------------


async def test_connect_stores_the_token_encrypted(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer, secret_key: str
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)

    # No parked events and no queue of that name: resuming publishes nothing and must not fail.
    result = await cli.connect(token)

    assert result.returncode == 0, result.stderr
    assert f"tenant {TENANT} connected to sevDesk" in result.stdout
    assert "resumed" not in result.stdout
    assert f"sevsync tenant settings {TENANT} --enable" in result.stdout  # a new tenant starts disabled
    row = await _row(db)
    assert row is not None
    assert (row["provider"], row["status"], row["enabled"]) == ("sevdesk", "connected", False)
    assert row["connected_at"] is not None
    stored = row["token_encrypted"]
    assert stored
    assert token not in stored
    assert Fernet(secret_key.encode()).decrypt(stored.encode()).decode() == token
    assert TokenCipher(secret_key).decrypt(stored).reveal() == token


async def test_connect_logs_no_token_even_at_debug_level(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    refused = new_token()
    cli.secrets.append(refused)
    failed = await cli("tenant", "connect", TENANT, stdin=refused + "\n", env={"SEVSYNC_LOG_LEVEL": "DEBUG"})
    assert failed.returncode != 0
    assert "sevDesk GET /Tools/bookkeepingSystemVersion -> 401" in failed.stderr  # debug output is on

    token = new_token()
    sandbox.sandbox.add_account(token)
    cli.secrets.append(token)
    result = await cli("tenant", "connect", TENANT, stdin=token + "\n", env={"SEVSYNC_LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr
    # Cli checked every line of both runs for both tokens and the key.


async def test_connect_encrypts_with_the_first_key_of_several(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer, secret_key: str
) -> None:
    new_key = Fernet.generate_key().decode()
    cli.secrets.append(new_key)
    token = new_token()
    sandbox.sandbox.add_account(token)

    cli.secrets.append(token)
    result = await cli(
        "tenant",
        "connect",
        TENANT,
        stdin=token + "\n",
        env={"SEVSYNC_SECRET_KEYS": f"{new_key},{secret_key}"},
    )

    assert result.returncode == 0, result.stderr
    row = await _row(db)
    assert row is not None
    stored = row["token_encrypted"].encode()
    assert Fernet(new_key.encode()).decrypt(stored).decode() == token
    with pytest.raises(InvalidToken):
        Fernet(secret_key.encode()).decrypt(stored)


async def test_connect_resumes_parked_events_to_the_queue(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer, services: Services, broker_names: dict[str, str]
) -> None:
    event_id = uuid.uuid4()
    body = json.dumps({"event_id": str(event_id), "event_type": "customer.created"}).encode()
    await db.execute(
        "INSERT INTO sevsync.parked_event (event_id, tenant_id, event_type, body) VALUES ($1, $2, $3, $4)",
        event_id,
        TENANT,
        "customer.created",
        body,
    )
    connection = await aio_pika.connect(services.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(broker_names["queue"], durable=True)

        await _connected(cli, sandbox)

        message = await queue.get(timeout=5, fail=True)
        assert message is not None
        await message.ack()
        assert message.body == body
        assert message.message_id == str(event_id)
    finally:
        await connection.close()
    assert await db.fetchval("SELECT count(*) FROM sevsync.parked_event") == 0


async def test_connect_with_nothing_parked_needs_no_broker(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    cli.secrets.append(token)

    # Port 1: nothing listens there. With no parked events there is nothing to publish.
    result = await cli(
        "tenant",
        "connect",
        TENANT,
        stdin=token + "\n",
        env={"SEVSYNC_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"},
    )

    assert result.returncode == 0, result.stderr
    row = await _row(db)
    assert row is not None
    assert row["status"] == "connected"


async def test_connect_with_a_refused_token_keeps_the_working_one(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    await _connected(cli, sandbox)
    before = await _row(db)
    assert before is not None

    result = await cli.connect(new_token())  # no sandbox account: 401

    assert result.returncode != 0
    line = result.error_line()
    assert line.startswith("sevsync: error:")
    assert "refused the token" in line
    assert "401" in line
    after = await _row(db)
    assert after is not None
    assert after["token_encrypted"] == before["token_encrypted"]
    assert (after["status"], after["connected_at"]) == ("connected", before["connected_at"])


async def test_connect_when_sevdesk_fails_keeps_the_working_token(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    token = await _connected(cli, sandbox)
    before = await _row(db)
    assert before is not None
    sandbox.sandbox.faults.add(kind="status", status=500, path="bookkeepingSystemVersion", times=None)

    result = await cli.connect(token)

    assert result.returncode != 0
    assert f"testing the token against sevDesk at {sandbox.base_url} failed" in result.error_line()
    after = await _row(db)
    assert after is not None
    assert after["token_encrypted"] == before["token_encrypted"]


async def test_connect_refuses_an_account_on_bookkeeping_version_1(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token, bookkeeping_version="1.0")

    result = await cli.connect(token)

    assert result.returncode != 0
    line = result.error_line()
    assert "bookkeeping system version 1.0" in line
    assert "2.0" in line
    assert await _row(db) is None


async def _insert_lexware(db: asyncpg.Pool, status: str = "connected") -> None:
    """The row as the lexware integration writes it: one row per tenant, whichever provider."""
    await db.execute(
        """
        INSERT INTO sevsync.tenant_integration
               (tenant_id, provider, status, enabled, settings, token_encrypted, connected_at)
        VALUES ($1, 'lexware', $2, true, '{"units": {"hour": "1"}}', 'lexware-ciphertext', now())
        """,
        TENANT,
        status,
    )


LEXWARE_REFUSAL = (
    f"sevsync: error: tenant {TENANT} is connected to lexware; a tenant has one accounting "
    "integration at a time, so disconnect lexware first"
)


async def test_connect_is_refused_while_another_provider_is_connected(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    await _insert_lexware(db)
    before = await _row(db)
    assert before is not None
    token = new_token()
    sandbox.sandbox.add_account(token)

    result = await cli.connect(token)

    assert result.returncode == 1
    assert result.error_line() == LEXWARE_REFUSAL
    assert result.stdout == ""
    after = await _row(db)
    assert after is not None
    assert dict(after) == dict(before)  # every column, updated_at included
    assert await db.fetchval("SELECT count(*) FROM sevsync.tenant_integration") == 1
    # Refused before the token is even tested: it never went to sevDesk, and nothing holds it.
    assert sandbox.sandbox.count_calls() == 0
    dump = await db.fetchval("SELECT string_agg(t::text, ' ') FROM sevsync.tenant_integration t")
    assert token not in dump


async def test_connect_is_refused_when_another_provider_connects_during_the_token_test(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    # The token test hangs in sevDesk until interrupted; lexware connects the tenant meanwhile.
    sandbox.sandbox.faults.add(kind="latency", seconds=30, path="bookkeepingSystemVersion")
    connecting = asyncio.create_task(cli.connect(token))
    deadline = asyncio.get_running_loop().time() + 20
    while sandbox.sandbox.faults.rules:
        assert not connecting.done(), (await connecting).stderr
        assert asyncio.get_running_loop().time() < deadline, "the token test never reached sevDesk"
        await asyncio.sleep(0.02)
    await _insert_lexware(db)
    before = await _row(db)
    sandbox.sandbox.faults.interrupt()

    result = await connecting

    assert result.returncode == 1
    assert result.error_line() == LEXWARE_REFUSAL
    assert await _row(db) == before


async def test_connect_takes_over_from_a_disconnected_provider(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer, secret_key: str
) -> None:
    await _insert_lexware(db, "disconnected")

    token = await _connected(cli, sandbox)

    row = await _row(db)
    assert row is not None
    assert (row["provider"], row["status"]) == ("sevdesk", "connected")
    assert TokenCipher(secret_key).decrypt(row["token_encrypted"]).reveal() == token
    shown = await cli("tenant", "show", TENANT)
    assert shown.returncode == 0, shown.stderr
    assert (shown.json()["provider"], shown.json()["status"]) == ("sevdesk", "connected")


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
async def test_connect_without_a_token_on_stdin(cli: Cli, db: asyncpg.Pool, stdin: str) -> None:
    result = await cli("tenant", "connect", TENANT, stdin=stdin)

    assert result.returncode != 0
    line = result.error_line()
    assert "no usable token on stdin" in line
    assert "empty" in line
    assert await _row(db) is None


async def test_connect_rejects_a_malformed_tenant_id(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    cli.secrets.append(token)

    result = await cli("tenant", "connect", "not a tenant!", stdin=token + "\n")

    assert result.returncode != 0
    assert "'not a tenant!'" in result.error_line()
    assert await db.fetchval("SELECT count(*) FROM sevsync.tenant_integration") == 0


# --- show ----------------------------------------------------------------------------------------


async def test_show_prints_json_without_the_token(cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer) -> None:
    await _connected(cli, sandbox)
    await _insert_link(db)
    row = await _row(db)
    assert row is not None
    cli.secrets.append(row["token_encrypted"])  # not even the ciphertext is shown

    result = await cli("tenant", "show", TENANT)

    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert shown["tenant_id"] == TENANT
    assert (shown["provider"], shown["status"], shown["enabled"]) == ("sevdesk", "connected", False)
    assert shown["token_stored"] is True
    assert shown["connected_at"]
    assert shown["links"] == {"customer": 1}
    assert shown["settings"] == TenantSettings().model_dump(mode="json")
    assert not any("token" in key and key != "token_stored" for key in shown)


async def test_show_an_unknown_tenant(cli: Cli) -> None:
    result = await cli("tenant", "show", "nobody")

    assert result.returncode != 0
    assert "tenant nobody is not known" in result.error_line()
    assert result.stdout == ""


# --- settings ------------------------------------------------------------------------------------


async def test_settings_sets_every_option(cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer) -> None:
    await _connected(cli, sandbox)

    result = await cli(
        "tenant", "settings", TENANT,
        "--enable",
        "--small-business",
        "--small-business-until", "2026-12-31",
        "--default-tax-type", "eu_reverse_charge",
        "--no-auto-sync-customers",
        "--no-auto-sync-products",
        "--contact-person", "42",
        "--unit", "hour=1",
        "--unit", "piece=9",
        "--voucher-due-days", "30",
        "--cost-centre", "77",
        "--booking-account", "revenue=8400",
        "--booking-account", "consulting=8337",
        "--check-account", "bank=5",
        "--check-account", "cash=6",
        "--delivery-date-in-head-text",
        "--e-invoice", "customers",
        "--payment-method", "bank_transfer=21919",
        "--payment-method", "card=21920",
        "--default-payment-method", "21919",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    expected = {
        "auto_sync_customers": False,
        "auto_sync_products": False,
        "small_business": True,
        "small_business_until": "2026-12-31",
        "default_tax_type": "eu_reverse_charge",
        "contact_person_id": "42",
        "units": {"hour": "1", "piece": "9"},
        "voucher_due_days": 30,
        "cost_centre_id": "77",
        "booking_accounts": {"revenue": "8400", "consulting": "8337"},
        "check_accounts": {"bank": "5", "cash": "6"},
        "delivery_date_in_head_text": True,
        "e_invoice": "customers",
        "payment_methods": {"bank_transfer": "21919", "card": "21920"},
        "default_payment_method": "21919",
    }
    assert await _settings(db) == expected
    row = await _row(db)
    assert row is not None
    assert row["enabled"] is True
    assert result.json() == expected | {"enabled": True}


async def test_settings_turns_off_removes_and_merges(cli: Cli, db: asyncpg.Pool) -> None:
    await _insert_tenant(db)
    first = await cli(
        "tenant", "settings", TENANT,
        "--enable", "--small-business", "--small-business-until", "2026-12-31", "--contact-person", "42",
        "--unit", "hour=1", "--cost-centre", "77",
        "--booking-account", "revenue=8400", "--booking-account", "consulting=8337",
        "--check-account", "bank=5", "--check-account", "cash=6", "--delivery-date-in-head-text",
        "--e-invoice", "all", "--payment-method", "card=21920", "--payment-method", "cash=21921",
        "--default-payment-method", "21919",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr

    result = await cli(
        "tenant", "settings", TENANT,
        "--disable",
        "--no-small-business",
        "--auto-sync-customers",
        "--auto-sync-products",
        "--default-tax-type", "standard",
        "--unit", "day=3",
        "--voucher-due-days", "0",
        "--no-cost-centre",
        "--booking-account", "revenue=8401",
        "--remove-booking-account", "consulting",
        "--check-account", "paypal=7",
        "--remove-check-account", "cash",
        "--no-delivery-date-in-head-text",
        "--payment-method", "paypal=21922",
        "--remove-payment-method", "cash",
        "--no-default-payment-method",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    expected = {
        "auto_sync_customers": True,
        "auto_sync_products": True,
        "small_business": False,
        "small_business_until": "2026-12-31",  # untouched
        "default_tax_type": "standard",
        "contact_person_id": "42",  # untouched
        "units": {"hour": "1", "day": "3"},  # merged
        "voucher_due_days": 0,
        "cost_centre_id": None,
        "booking_accounts": {"revenue": "8401"},
        "check_accounts": {"bank": "5", "paypal": "7"},
        "delivery_date_in_head_text": False,
        "e_invoice": "all",  # untouched
        "payment_methods": {"card": "21920", "paypal": "21922"},
        "default_payment_method": None,
    }
    assert await _settings(db) == expected
    row = await _row(db)
    assert row is not None
    assert row["enabled"] is False

    # No option changes nothing, `enabled` included.
    unchanged = await cli("tenant", "settings", TENANT)
    assert unchanged.returncode == 0, unchanged.stderr
    assert await _settings(db) == expected
    row = await _row(db)
    assert row is not None
    assert row["enabled"] is False


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--remove-booking-account", "booking accounts has no entry 'nope' to remove"),
        ("--remove-check-account", "check accounts has no entry 'nope' to remove"),
        ("--remove-payment-method", "payment methods has no entry 'nope' to remove"),
    ],
)
async def test_settings_removing_a_missing_key_changes_nothing(
    cli: Cli, db: asyncpg.Pool, option: str, message: str
) -> None:
    await _insert_tenant(db)
    before = await _settings(db)

    # The addition in the same command must not be stored either.
    result = await cli(
        "tenant",
        "settings",
        TENANT,
        "--enable",
        "--booking-account",
        "a=1",
        "--check-account",
        "b=2",
        option,
        "nope",
    )

    assert result.returncode != 0
    assert message in result.error_line()
    assert await _settings(db) == before
    row = await _row(db)
    assert row is not None
    assert row["enabled"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--small-business-until", "2026-13-01"], "argument --small-business-until: expected a date"),
        (["--voucher-due-days", "abc"], "argument --voucher-due-days: expected a whole number, got 'abc'"),
        (["--voucher-due-days", "-1"], "argument --voucher-due-days: expected zero or more"),
        (["--default-tax-type", "bogus"], "argument --default-tax-type: invalid choice: 'bogus'"),
        (["--unit", "hour"], "argument --unit: expected NAME=VALUE, got 'hour'"),
        (["--booking-account", "=8400"], "argument --booking-account: expected NAME=VALUE"),
        (["--enable", "--disable"], "argument --disable: not allowed with argument --enable"),
        (["--cost-centre", "5", "--no-cost-centre"], "not allowed with argument --cost-centre"),
        (["--small-business", "--no-small-business"], "not allowed with argument --small-business"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--e-invoice", "some"], "argument --e-invoice: invalid choice: 'some'"),
        (["--payment-method", "card=x1"], "--payment-method: 'x1' is not a sevDesk PaymentMethod id"),
        (["--default-payment-method", "abc"], "'abc' is not a sevDesk PaymentMethod id (a whole number"),
        (["--unit", "hour=0"], "--unit: '0' is not a sevDesk Unity id (a whole number from 1, up to 20"),
        (["--contact-person", "007"], "argument --contact-person: '007' is not a sevDesk SevUser id"),
        (["--cost-centre", "1" * 21], "is not a sevDesk CostCentre id (a whole number from 1, up to 20"),
        (["--booking-account", "sales=84x"], "argument --booking-account: an SKR account number is a number"),
    ],
)
async def test_settings_usage_errors(cli: Cli, db: asyncpg.Pool, args: list[str], message: str) -> None:
    await _insert_tenant(db)
    before = await _settings(db)

    result = await cli("tenant", "settings", TENANT, *args)

    assert result.returncode == 2
    line = result.error_line()
    assert line.startswith("sevsync")  # `sevsync tenant settings: error:` but `sevsync: error:` for extras
    assert ": error: " in line
    assert message in line
    assert result.stdout == ""
    assert await _settings(db) == before


async def test_settings_value_out_of_range_is_one_line(cli: Cli, db: asyncpg.Pool) -> None:
    await _insert_tenant(db)
    before = await _settings(db)

    result = await cli("tenant", "settings", TENANT, "--voucher-due-days", "366")

    assert result.returncode != 0
    assert "voucher_due_days" in result.error_line()
    assert await _settings(db) == before


async def test_settings_for_an_unknown_tenant(cli: Cli, db: asyncpg.Pool) -> None:
    result = await cli("tenant", "settings", "nobody", "--enable")

    assert result.returncode != 0
    line = result.error_line()
    assert "tenant nobody is not known" in line
    assert "sevsync tenant connect" in line
    assert await _row(db, "nobody") is None


# --- disconnect ----------------------------------------------------------------------------------


async def test_disconnect_removes_the_token_and_keeps_links(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer
) -> None:
    await _connected(cli, sandbox)
    configured = await cli("tenant", "settings", TENANT, "--enable", "--unit", "hour=1")
    assert configured.returncode == 0, configured.stderr
    await _insert_link(db, "cust-1")
    await _insert_link(db, "cust-2")

    result = await cli("tenant", "disconnect", TENANT)

    assert result.returncode == 0, result.stderr
    assert "disconnected" in result.stdout
    row = await _row(db)
    assert row is not None
    assert (row["provider"], row["status"], row["token_encrypted"]) == ("sevdesk", "disconnected", None)
    assert row["settings"]["units"] == {"hour": "1"}
    links = await db.fetch(
        "SELECT entity_id, sevdesk_id FROM sevsync.entity_link WHERE tenant_id = $1", TENANT
    )
    assert sorted((r["entity_id"], r["sevdesk_id"]) for r in links) == [
        ("cust-1", "4711"),
        ("cust-2", "4711"),
    ]

    shown = await cli("tenant", "show", TENANT)
    assert shown.returncode == 0, shown.stderr
    assert shown.json()["token_stored"] is False
    assert shown.json()["status"] == "disconnected"
    assert shown.json()["links"] == {"customer": 2}


async def test_disconnect_an_unknown_tenant(cli: Cli) -> None:
    result = await cli("tenant", "disconnect", "nobody")

    assert result.returncode != 0
    assert "tenant nobody has no sevDesk connection" in result.error_line()


# --- help, usage and configuration errors --------------------------------------------------------

HELP_COMMANDS: Sequence[Sequence[str]] = (
    (),
    ("migrate",),
    ("worker",),
    ("tenant",),
    ("tenant", "connect"),
    ("tenant", "show"),
    ("tenant", "disconnect"),
    ("tenant", "settings"),
    ("publish",),
    ("sandbox",),
)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "sevsync")
async def test_help_exits_zero(cli: Cli, command: Sequence[str]) -> None:
    # A broken configuration must not stand in the way of --help.
    result = await cli(*command, "--help", env={"SEVSYNC_HTTP_PORT": "abc"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: sevsync {' '.join(command)}".rstrip())
    assert result.stderr == ""


async def test_settings_help_lists_every_option(cli: Cli) -> None:
    result = await cli("tenant", "settings", "--help")

    assert result.returncode == 0
    for option in (
        "--enable", "--disable", "--small-business", "--no-small-business", "--small-business-until",
        "--default-tax-type", "--auto-sync-customers", "--no-auto-sync-customers", "--auto-sync-products",
        "--no-auto-sync-products", "--contact-person", "--unit", "--voucher-due-days", "--cost-centre",
        "--no-cost-centre", "--booking-account", "--remove-booking-account", "--check-account",
        "--remove-check-account",
    ):  # fmt: skip
        assert f"{option} " in result.stdout or f"{option}\n" in result.stdout, option


@pytest.mark.parametrize(
    ("args", "prefix", "message"),
    [
        (["bogus"], "sevsync: error:", "invalid choice: 'bogus'"),
        (["tenant", "bogus"], "sevsync tenant: error:", "invalid choice: 'bogus'"),
        (["tenant", "show"], "sevsync tenant show: error:", "required: tenant"),
    ],
)
async def test_usage_errors_are_one_line(cli: Cli, args: list[str], prefix: str, message: str) -> None:
    result = await cli(*args)

    assert result.returncode == 2
    line = result.error_line()
    assert line.startswith(prefix)
    assert message in line
    assert result.stdout == ""


async def test_connect_names_the_sevdesk_url_it_cannot_reach(cli: Cli, db: asyncpg.Pool) -> None:
    with socket.socket() as closed:  # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/v1"
        token = new_token()
        cli.secrets.append(token)
        result = await cli("tenant", "connect", TENANT, stdin=token + "\n", env={"SEVSYNC_SEVDESK_URL": url})

    assert result.returncode == 1
    assert result.error_line() == (
        f"sevsync: error: testing the token against sevDesk at {url} failed: "
        "GET /Tools/bookkeepingSystemVersion: sevDesk is unreachable"
    )
    assert await _row(db) is None


@pytest.mark.parametrize(("args", "listed"), [([], "  tenant "), (["tenant"], "  connect ")])
async def test_a_group_without_its_command_lists_them(cli: Cli, args: list[str], listed: str) -> None:
    result = await cli(*args)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: {' '.join(['sevsync', *args])} [-h]")
    assert listed in result.stderr


async def test_a_bad_setting_in_the_environment_is_named(cli: Cli) -> None:
    result = await cli("tenant", "show", TENANT, env={"SEVSYNC_HTTP_PORT": "abc"})

    assert result.returncode != 0
    line = result.error_line()
    assert line.startswith("sevsync: error: SEVSYNC_HTTP_PORT")
    assert "integer" in line


@pytest.mark.parametrize(
    "keys",
    [
        "this-is-not-a-fernet-key",
        Fernet.generate_key().decode()[:-2] + "==",  # one byte short
        "{good},garbage-key-number-two",
    ],
)
async def test_a_malformed_secret_key_is_refused_without_echoing_it(
    cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer, secret_key: str, keys: str
) -> None:
    keys = keys.format(good=secret_key)
    cli.secrets.extend(k for k in keys.split(",") if k)
    token = new_token()
    sandbox.sandbox.add_account(token)
    cli.secrets.append(token)

    result = await cli("tenant", "connect", TENANT, stdin=token + "\n", env={"SEVSYNC_SECRET_KEYS": keys})

    assert result.returncode != 0
    line = result.error_line()
    assert "SEVSYNC_SECRET_KEYS" in line
    assert "not a Fernet key" in line
    assert await _row(db) is None


async def test_connect_without_secret_keys(cli: Cli, db: asyncpg.Pool, sandbox: SandboxServer) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    cli.secrets.append(token)

    result = await cli("tenant", "connect", TENANT, stdin=token + "\n", env={"SEVSYNC_SECRET_KEYS": ""})

    assert result.returncode != 0
    assert "SEVSYNC_SECRET_KEYS is not set" in result.error_line()
    assert await _row(db) is None
