"""One line for a failure of Postgres or RabbitMQ: the service, its URL (password masked), what went
wrong and, where sevsync knows, what to run. An operator reads "cannot reach RabbitMQ at
amqp://guest:***@127.0.0.1:5673/: connection refused", not the driver's exception class."""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from sevsync_events.connection import masked_url

from .errors import CliError, one_line

POSTGRES = "Postgres"
RABBITMQ = "RabbitMQ"
# The words of an errno-style message that mean "nobody listens there", also inside the combined
# message asyncpg gives when every address of a host refused.
_REFUSED = re.compile(rf"\[Errno {errno.ECONNREFUSED}\]|Connect call failed|Connection refused", re.I)
_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')


def unreachable(service: str, url: str, exc: BaseException) -> str:
    """A connection that could not be made at all."""
    return f"cannot reach {service} at {masked_url(url)}: {_network_reason(service, exc)}"


def _hung_up(service: str) -> str:
    return f"the server hung up at once (is that the port of {service}?)"


def _network_reason(service: str, exc: BaseException) -> str:
    text = one_line(exc)
    if isinstance(exc, socket.gaierror) or getattr(exc, "errno", None) in (
        socket.EAI_NONAME,
        socket.EAI_AGAIN,
    ):
        return "host not found"
    if isinstance(exc, ConnectionRefusedError) or _REFUSED.search(text):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    # Closed or reset before it said anything (how each shows depends on timing and event loop).
    if isinstance(exc, ConnectionResetError) or re.search("unexpectedly closed|connection reset", text, re.I):
        return _hung_up(service)
    if "rejected SSL upgrade" in text:
        return f"the server does not speak the Postgres protocol (is that the port of {POSTGRES}?)"
    strerror = getattr(exc, "strerror", None)
    return str(strerror).lower() if strerror else text


def masked_urls(urls: str) -> str:
    """A comma-separated list of URLs (SEVSYNC_AMQP_URL's nodes), each masked."""
    return ",".join(masked_url(url.strip()) for url in urls.split(","))


def describe_rabbitmq_failure(exc: BaseException, url: str) -> str | None:
    """The line for an error of the AMQP client, or None when `exc` is none of its errors. `url` may
    list several nodes: when none answered, the line names each with what it said."""
    from aiormq import exceptions as amqp

    from sevsync_events.connection import NoNodeAnswered

    if isinstance(exc, NoNodeAnswered):
        nodes = [_node_reason(node_exc, node) for node, node_exc in exc.failures]
        return f"cannot reach any of {len(nodes)} {RABBITMQ} nodes: " + "; ".join(nodes)
    shown = masked_urls(url)
    where = f"{RABBITMQ} at {shown}"
    user = urlsplit(url).username or "guest"
    if isinstance(exc, amqp.ProbableAuthenticationError | amqp.AuthenticationError):
        return f"{where} refused the login of user {user}: wrong user name or password"
    if isinstance(exc, amqp.ProtocolSyntaxError) and "Connection.OpenOk" in str(exc):
        vhost = urlsplit(url).path.removeprefix("/") or "/"
        return (
            f"{where} refused to open virtual host {vhost!r}: it does not exist or user {user} may not use it"
        )
    if isinstance(exc, amqp.ConnectionClosed):
        return f"{where} closed the connection: {one_line(exc)}"
    if isinstance(exc, amqp.AMQPConnectionError):
        return f"cannot reach {where}: {_network_reason(RABBITMQ, exc)}"
    if isinstance(exc, StopAsyncIteration | EOFError) and _raised_in("aiormq", exc):
        # aiormq's way of saying that the peer closed the socket before sending a single frame.
        return f"cannot reach {where}: {_hung_up(RABBITMQ)}"
    return None


def _node_reason(exc: BaseException, url: str) -> str:
    """One node's part of the line for a cluster none of whose nodes answered: its URL and why."""
    line = describe_rabbitmq_failure(exc, url) or f"{RABBITMQ} at {masked_url(url)}: {one_line(exc)}"
    return line.removeprefix(f"cannot reach {RABBITMQ} at ").removeprefix(f"{RABBITMQ} at ")


def _raised_in(package: str, exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(f"{package}."):
            return True
        tb = tb.tb_next
    return False


def describe_postgres_failure(exc: BaseException, url: str) -> str | None:
    """The line for an error of the Postgres driver, or None when `exc` is none of its errors."""
    import asyncpg

    where = f"{POSTGRES} at {masked_url(url)}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        found = _MISSING_DATABASE.search(str(exc))
        name = found.group("name") if found else urlsplit(url).path.removeprefix("/")
        return f"database {name} does not exist; run `sevsync migrate --create-database`"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"{where} refused the login: {one_line(exc)}"
    missing = asyncpg.UndefinedTableError | asyncpg.InvalidSchemaNameError
    if isinstance(exc, missing) and "sevsync" in str(exc):
        database = urlsplit(url).path.removeprefix("/")
        return f"database {database} lacks sevsync's tables ({one_line(exc)}); run `sevsync migrate`"
    if isinstance(exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return f"{where} takes no connections now: {one_line(exc)}"
    if isinstance(exc, asyncpg.ConnectionDoesNotExistError):
        return f"lost the connection to {where}: {one_line(exc)}"
    if isinstance(exc, asyncpg.PostgresError):
        return f"{where}: {one_line(exc)}"
    return None


@contextmanager
def connecting_to_postgres(url: str) -> Iterator[None]:
    """asyncpg lets a failed connect's socket error through as it is: name the service here, where
    it is known, since a bare "connection refused" could come from any of them."""
    try:
        yield
    except OSError as exc:
        raise CliError(unreachable(POSTGRES, url, exc)) from None
