"""How a failed command's one line names what failed (cli/service_errors.py, cli/errors.py), and what a
command logs besides it (logs.configure_command_logging)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import asyncpg
import pytest
from aiormq import exceptions as amqp
from pydantic import SecretStr

from sevsync.cli.errors import describe_failure
from sevsync.config import Settings
from sevsync.logs import configure_command_logging
from sevsync_events.connection import masked_url

AMQP = "amqp://sevsync:hunter2@mq.example:5672/crm"
POSTGRES = "postgresql://app:hunter2@db.example:5432/sevsync"
SETTINGS = Settings(amqp_url=SecretStr(AMQP), database_url=SecretStr(POSTGRES))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (AMQP, "amqp://sevsync:***@mq.example:5672/crm"),
        ("amqp://guest:p%40ss:w@127.0.0.1/", "amqp://guest:***@127.0.0.1/"),
        ("postgresql://postgres@127.0.0.1:5432/sevsync", "postgresql://postgres@127.0.0.1:5432/sevsync"),
        ("postgresql://db/sevsync?user=a&password=hunter2", "postgresql://db/sevsync?user=a&password=***"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            amqp.AMQPConnectionError(111, "Connect call failed ('10.0.0.1', 5672)"),
            "cannot reach RabbitMQ at amqp://sevsync:***@mq.example:5672/crm: connection refused",
        ),
        (
            amqp.AMQPConnectionError(-2, "Name or service not known"),
            "cannot reach RabbitMQ at amqp://sevsync:***@mq.example:5672/crm: host not found",
        ),
        (
            amqp.ProbableAuthenticationError("ACCESS_REFUSED - Login was refused"),
            "RabbitMQ at amqp://sevsync:***@mq.example:5672/crm refused the login of user sevsync: "
            "wrong user name or password",
        ),
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "app"'),
            "Postgres at postgresql://app:***@db.example:5432/sevsync refused the login: "
            'password authentication failed for user "app"',
        ),
        (
            asyncpg.InvalidCatalogNameError('database "sevsync" does not exist'),
            "database sevsync does not exist; run `sevsync migrate --create-database`",
        ),
        (
            asyncpg.UndefinedTableError('relation "sevsync.tenant_integration" does not exist'),
            'database sevsync lacks sevsync\'s tables (relation "sevsync.tenant_integration" does not '
            "exist); run `sevsync migrate`",
        ),
        (
            asyncpg.CannotConnectNowError("the database system is starting up"),
            "Postgres at postgresql://app:***@db.example:5432/sevsync takes no connections now: "
            "the database system is starting up",
        ),
        (
            asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            "lost the connection to Postgres at postgresql://app:***@db.example:5432/sevsync: "
            "connection was closed in the middle of operation",
        ),
        (PermissionError(13, "Permission denied", "events.jsonl"), "permission denied: events.jsonl"),
        (RuntimeError("boom"), "RuntimeError: boom"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)
def test_failure_lines_name_the_service_not_the_exception(exc: BaseException, line: str) -> None:
    assert describe_failure(exc, SETTINGS) == line
    assert "hunter2" not in describe_failure(exc, SETTINGS)


def test_unreachable_reasons() -> None:
    from sevsync.cli.service_errors import unreachable

    url = "postgresql://db:5432/x"
    both_refused = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432), ...")
    assert unreachable("Postgres", url, both_refused).endswith(": connection refused")
    assert unreachable("Postgres", url, socket.gaierror(-3, "Temporary failure")).endswith(": host not found")
    assert unreachable("Postgres", url, TimeoutError()).endswith(": no answer (timed out)")
    reset = "Server connection reset: ConnectionResetError(104, 'Connection reset by peer')"
    hung_up = ": the server hung up at once (is that the port of RabbitMQ?)"
    assert unreachable("RabbitMQ", url, amqp.AMQPConnectionError(reset)).endswith(hung_up)
    assert unreachable("Postgres", url, ConnectionResetError(104, "reset")).endswith("port of Postgres?)")
    unreachable_net = OSError(101, "Network is unreachable")
    assert unreachable("Postgres", url, unreachable_net).endswith(": network is unreachable")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_a_command_logs_only_sevsyncs_own_warnings_as_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_command_logging("INFO")

    logging.getLogger("sevsync.store.migrations").info("applied migration 0001_initial")
    logging.getLogger("aiormq.connection").error("error when creating transport")
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    logging.getLogger("sevsync.imports.runs").warning("a run\nwas stale")

    assert capsys.readouterr().err == "sevsync: warning: a run was stale\n"


@pytest.mark.usefixtures("restore_logging")
def test_a_command_at_debug_logs_everything_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_command_logging("DEBUG")

    logging.getLogger("aiormq.connection").error("error when creating transport")

    assert '"logger": "aiormq.connection"' in capsys.readouterr().err
