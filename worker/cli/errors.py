"""How a failed command ends: one line on stderr and a non-zero exit status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from ..config import Settings

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operational error with a message fit for one line."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def describe_failure(exc: BaseException, settings: Settings | None = None) -> str:
    """Known failure modes carry a message made for operators; a failure of Postgres or RabbitMQ
    names the service and its URL (from `settings`); anything else is named by its type."""
    from ..tenants.crypto import SecretKeyError
    from ..tenants.service import TenantError
    from .service_errors import describe_postgres_failure, describe_rabbitmq_failure

    if isinstance(exc, CliError | TenantError | SecretKeyError):
        return one_line(exc)
    if settings is not None:
        service_line = describe_rabbitmq_failure(
            exc, settings.amqp_url.get_secret_value()
        ) or describe_postgres_failure(exc, settings.database_url.get_secret_value())
        if service_line:
            return service_line
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if isinstance(exc, OSError) and exc.strerror:
        # A file or socket error: its words ("permission denied: 'events.jsonl'"), not its class.
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror.lower()}{where}"
    return f"{type(exc).__name__}: {one_line(exc)}"
