"""How a failed command ends: one line on stderr and a non-zero exit status."""

from __future__ import annotations

from pydantic import ValidationError

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operational error with a message fit for one line."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def describe_failure(exc: BaseException) -> str:
    """Known failure modes carry a message made for operators; anything else is named by its type."""
    import asyncpg

    from ..tenants.crypto import SecretKeyError
    from ..tenants.service import TenantError

    if isinstance(exc, CliError | TenantError | SecretKeyError):
        return one_line(exc)
    if isinstance(exc, OSError | asyncpg.PostgresError | ConnectionError):
        return f"{type(exc).__name__}: {one_line(exc)}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return f"{type(exc).__name__}: {one_line(exc)}"
