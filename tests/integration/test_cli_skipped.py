"""`sevsync skipped list|replay|purge`, and what `tenant connect` / `tenant settings --enable` say about
skipped events waiting to be sent, driven as real subprocesses against a worker on the real services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..cli_runner import Cli, settings_env
from ..samples import product
from .harness import envelope, new_token, publish, running_worker, wait_for_first_outcome, wait_for_outcomes

pytestmark = pytest.mark.integration

TENANT = "acme"


@pytest.fixture
def cli(db: asyncpg.Pool, settings: Settings, secret_key: str) -> Cli:
    return Cli(settings_env(settings), [secret_key])


async def _connect(cli: Cli, sandbox: SandboxServer, token: str | None = None) -> tuple[str, list[str]]:
    """Connect the tenant through the CLI (to a new sandbox account unless `token` names one)."""
    if token is None:
        token = new_token()
        sandbox.sandbox.add_account(token)
    result = await cli.connect(token, TENANT)
    assert result.returncode == 0, result.stderr
    return token, result.stdout.splitlines()


async def test_skipped_events_are_announced_listed_and_sent_once_the_tenant_is_enabled(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, first = await _connect(cli, sandbox)
    # A new tenant starts disabled: what it says about the events skipped until then.
    assert first == [
        f"tenant {TENANT} connected to sevDesk",
        f"not enabled yet: its events are skipped until `sevsync tenant settings {TENANT} --enable`",
        "skipped events are kept 30 days and can be sent once it is enabled: "
        f"sevsync skipped replay {TENANT}",
    ]
    parts = [envelope("product.created", product(f"prod-{n}", sku=f"SKU-{n}")) for n in range(2)]
    async with running_worker(settings):
        await publish(settings, *parts)
        await wait_for_outcomes(db, *parts)

        # Connecting again (e.g. a new token) says how many wait.
        _, again = await _connect(cli, sandbox, token)
        assert again[-1] == (
            f"2 skipped events of tenant {TENANT} wait to be sent once it syncs: "
            f"sevsync tenant settings {TENANT} --enable, then sevsync skipped replay {TENANT}"
        )
        listed = await cli("skipped", "list", TENANT)
        assert listed.returncode == 0, listed.stderr
        header, *rows, hint = listed.stdout.splitlines()
        assert header.split() == ["SKIPPED_AT", "REASON", "EVENT_TYPE", "ENTITY", "VERSION", "EVENT_ID"]
        assert sorted(row.split()[-1] for row in rows) == sorted(p["event_id"] for p in parts)
        assert all(row.split()[1:6] == ["disabled", "product.created", "product", row.split()[4], "1"]
                   for row in rows)  # fmt: skip
        assert hint == again[-1]
        refused = await cli("skipped", "replay", TENANT)
        assert refused.returncode == 1
        assert refused.error_line() == (
            f"sevsync: error: tenant {TENANT} is not enabled, so its skipped events would be skipped again; "
            f"enable it first: sevsync tenant settings {TENANT} --enable"
        )

        enabled = await cli("tenant", "settings", TENANT, "--enable")
        assert enabled.returncode == 0
        assert enabled.json()["enabled"] is True  # stdout stays the settings' JSON
        assert enabled.stderr == (
            f"2 skipped events of tenant {TENANT} wait to be sent: sevsync skipped replay {TENANT}\n"
        )
        shown = await cli("tenant", "show", TENANT)
        assert shown.json()["skipped_waiting"] == 2

        sent = await cli("skipped", "replay", TENANT, "--reason", "disabled")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == f"sent 2 skipped events of tenant {TENANT} to queue {settings.queue}\n"
        for part in parts:
            await wait_for_first_outcome(db, part, "succeeded")

    nothing = await cli("skipped", "list", TENANT)
    assert nothing.stdout == f"no skipped events of tenant {TENANT} wait to be sent\n"
    assert len(sandbox.sandbox.account(token).objects("Part")) == 2
    again_sent = await cli("skipped", "replay", TENANT)
    assert again_sent.stdout == f"no skipped events of tenant {TENANT} wait to be sent\n"


async def test_skipped_list_as_json_and_filtered(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _connect(cli, sandbox)
    part = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, part)
        await wait_for_outcomes(db, part)

    listed = await cli("skipped", "list", TENANT, "--json")
    [entry] = listed.json()
    assert (entry["event_id"], entry["entity_id"], entry["reason"], entry["version"]) == (
        part["event_id"],
        "prod-7",
        "disabled",
        1,
    )
    assert "body" not in entry
    other = await cli("skipped", "list", TENANT, "--reason", "auto_sync_off", "--json")
    assert other.json() == []


async def test_skipped_purge_deletes_old_bodies_only(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await _connect(cli, sandbox)
    old, recent = (
        envelope("product.created", product("prod-1")),
        envelope("product.created", product("prod-2")),
    )
    async with running_worker(settings):
        await publish(settings, old, recent)
        await wait_for_outcomes(db, old, recent)
    await db.execute(
        "UPDATE sevsync.skipped_event SET skipped_at = now() - interval '40 days' WHERE event_id = $1",
        uuid.UUID(old["event_id"]),
    )

    dry = await cli("skipped", "purge", "--older-than", "30", "--dry-run")
    assert dry.stdout == (
        "dry run: would delete the kept bodies of 1 skipped event skipped more than 30 days ago; "
        "nothing was deleted\n"
    )
    assert await db.fetchval("SELECT count(*) FROM sevsync.skipped_event") == 2
    purged = await cli("skipped", "purge", "--older-than", "30", "--tenant", TENANT)
    assert (
        purged.stdout
        == f"deleted the kept bodies of 1 skipped event of tenant {TENANT} skipped more than 30 days ago\n"
    )
    kept = await db.fetch("SELECT event_id FROM sevsync.skipped_event")
    assert [str(r["event_id"]) for r in kept] == [recent["event_id"]]
    # The outcome stays: only the body goes.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sevsync.sync_outcome WHERE event_id = $1", uuid.UUID(old["event_id"])
        )
        == 1
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["skipped", "list", TENANT, "--reason", "stale"], "argument --reason: invalid choice: 'stale'"),
        (["skipped", "replay"], "required: tenant"),
        (["skipped", "purge"], "required: --older-than"),
        (["skipped", "purge", "--older-than", "0"], "expected 1 to 36500 days, got 0"),
        (["topology", "frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
async def test_usage_errors_are_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = await cli(*args)

    assert result.returncode == 2
    assert message in result.error_line()
    assert result.stdout == ""


async def test_an_unknown_tenant_is_named(cli: Cli) -> None:
    for args in (["skipped", "list", "nobody"], ["skipped", "replay", "nobody"]):
        result = await cli(*args)
        assert result.returncode == 1
        assert result.error_line() == "sevsync: error: tenant nobody is not known"


HELP_COMMANDS: Sequence[Sequence[str]] = (
    ("skipped",),
    ("skipped", "list"),
    ("skipped", "replay"),
    ("skipped", "purge"),
    ("topology",),
    ("topology", "declare"),
)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
async def test_help_exits_zero(cli: Cli, command: Sequence[str]) -> None:
    result = await cli(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: sevsync {' '.join(command)}")
