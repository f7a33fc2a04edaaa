"""A command that cannot use Postgres or RabbitMQ ends with one line naming the service and its URL
(password masked), with nothing after it; a command that succeeds does not repeat itself in log lines.

Closed ports are sockets bound by the test and never listening: the kernel refuses connections to
them for as long as the test holds them, and no other process can take the port meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from cryptography.fernet import Fernet

from ..cli_runner import Result, clean_env, sevsync
from ..conftest import Services
from ..samples import company

# A made-up password that must never be printed.
PASSWORD = "s3cret-pw"


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
async def hanging_up_port() -> AsyncIterator[int]:
    """A server that accepts a connection and closes it at once: something, but no broker."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


def _env(services: Services, **overrides: str) -> dict[str, str]:
    return clean_env() | {
        "SEVSYNC_AMQP_URL": services.amqp_url,
        "SEVSYNC_DATABASE_URL": services.postgres_url,
        "SEVSYNC_SECRET_KEYS": Fernet.generate_key().decode(),
        **overrides,
    }


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _run(*args: str, env: dict[str, str]) -> Result:
    return await sevsync(*args, env=env, secrets=[PASSWORD])


def _only_line(result: Result) -> str:
    """The failure's one line: exit status 1, nothing on stdout, nothing else on stderr."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.endswith("\n")
    return result.error_line()


async def test_closed_broker_port(services: Services, closed_port: int) -> None:
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:{closed_port}/"

    result = await _run("topology", "declare", env=_env(services, SEVSYNC_AMQP_URL=url))

    expected = f"cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{closed_port}/: connection refused"
    assert _only_line(result) == f"sevsync: error: {expected}"


async def test_publish_to_a_closed_broker_port(services: Services, closed_port: int, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "customer.created",
        "tenant_id": "acme",
        "occurred_at": "2026-01-01T00:00:00Z",
        "version": 1,
        "data": company(),
    }
    events.write_text(json.dumps(event) + "\n", encoding="utf-8")
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:{closed_port}/"

    result = await _run("publish", str(events), env=_env(services, SEVSYNC_AMQP_URL=url))

    expected = f"cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{closed_port}/: connection refused"
    assert _only_line(result) == f"sevsync: error: {expected}"


async def test_a_server_that_hangs_up_is_no_broker(services: Services, hanging_up_port: int) -> None:
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:{hanging_up_port}/"

    result = await _run("topology", "declare", env=_env(services, SEVSYNC_AMQP_URL=url))

    assert _only_line(result) == (
        f"sevsync: error: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{hanging_up_port}/: "
        "the server hung up at once (is that the port of RabbitMQ?)"
    )


@pytest.mark.parametrize("command", [("migrate",), ("tenant", "show", "acme")], ids=" ".join)
async def test_closed_database_port(services: Services, closed_port: int, command: tuple[str, ...]) -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port}/sevsync"

    result = await _run(*command, env=_env(services, SEVSYNC_DATABASE_URL=url))

    masked = f"postgresql://postgres:***@127.0.0.1:{closed_port}/sevsync"
    assert _only_line(result) == f"sevsync: error: cannot reach Postgres at {masked}: connection refused"


@pytest.mark.parametrize("command", [("migrate",), ("dead", "list")], ids=" ".join)
async def test_missing_database(services: Services, command: tuple[str, ...]) -> None:
    name = f"sevsync_missing_{uuid.uuid4().hex[:10]}"
    env = _env(services, SEVSYNC_DATABASE_URL=_with_database(services.postgres_url, name))

    result = await _run(*command, env=env)

    assert _only_line(result) == (
        f"sevsync: error: database {name} does not exist; run `sevsync migrate --create-database`"
    )


async def test_create_database_then_migrate_prints_no_log_lines(services: Services) -> None:
    name = f"sevsync_created_{uuid.uuid4().hex[:10]}"
    env = _env(services, SEVSYNC_DATABASE_URL=_with_database(services.postgres_url, name))
    try:
        created = await _run("migrate", "--create-database", env=env)
        again = await _run("migrate", env=env)
    finally:
        conn = await asyncpg.connect(services.postgres_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created the database\napplied 0001_initial\n")
    # The migrations log "applied migration ..." at INFO: the worker's JSON lines, not a command's.
    assert created.stderr == ""
    assert (again.returncode, again.stdout, again.stderr) == (0, "schema is up to date\n", "")


async def test_debug_level_shows_the_log_lines_again(services: Services, closed_port: int) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port}/"
    env = _env(services, SEVSYNC_AMQP_URL=url, SEVSYNC_LOG_LEVEL="DEBUG")

    result = await _run("topology", "declare", env=env)

    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("sevsync: error: cannot reach RabbitMQ at")
    assert any(json.loads(line)["logger"].startswith("aiormq") for line in lines[:-1])
