"""Connecting to one of several RabbitMQ nodes: `amqp://u:p@node1:5672/,amqp://u:p@node2:5672/`.

Every connection sevsync opens (worker, CLI, `EventPublisher`) goes through `connect` or
`connect_robust`. Both try the nodes in turn, starting at a random one so that several processes
spread over the cluster, and return the first that answers. A robust connection that loses its node
reconnects to the next node of the list (and round and round), not only to the one it lost.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aio_pika import connect as _connect_one
from aio_pika.abc import AbstractConnection, AbstractRobustConnection, UnderlayConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aio_pika.robust_connection import RobustConnection
from yarl import URL

__all__ = [
    "FailoverConnection",
    "NoNodeAnswered",
    "connect",
    "connect_robust",
    "masked_url",
    "split_amqp_urls",
]

# What a node that does not answer raises (aiormq's EOFError: the peer hung up before a frame).
_FAILED = (*CONNECTION_EXCEPTIONS, EOFError)
_T = TypeVar("_T")


def split_amqp_urls(urls: str | Sequence[str]) -> list[str]:
    """The node URLs of a comma-separated list (or a sequence), blanks dropped; at least one."""
    parts = urls.split(",") if isinstance(urls, str) else list(urls)
    found = [part.strip() for part in parts if part.strip()]
    if not found:
        raise ValueError("no AMQP URL given")
    return found


class NoNodeAnswered(ConnectionError):
    """None of several nodes answered; `failures` holds each URL with what it raised."""

    def __init__(self, failures: Sequence[tuple[str, BaseException]]) -> None:
        self.failures = list(failures)
        super().__init__(
            "no RabbitMQ node answered: "
            + "; ".join(f"{masked_url(url)}: {_one_line(exc)}" for url, exc in self.failures)
        )


def masked_url(url: str) -> str:
    """The URL with its password (in the user part or a `password=` query field) as `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user_info, _, host = netloc.rpartition("@")
        netloc = f"{user_info.partition(':')[0]}:***@{host}"
    query = parts.query
    if "password" in query.lower():
        fields = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in fields], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _in_turn(urls: Sequence[str]) -> list[str]:
    start = random.randrange(len(urls))
    return [*urls[start:], *urls[:start]]


async def _first_answer(urls: str | Sequence[str], attempt: Callable[[str], Awaitable[_T]]) -> _T:
    failures: list[tuple[str, BaseException]] = []
    for url in _in_turn(split_amqp_urls(urls)):
        try:
            return await attempt(url)
        except _FAILED as exc:
            failures.append((url, exc))
    if len(failures) == 1:
        raise failures[0][1]  # one node: its own error, as a plain connect gives it
    raise NoNodeAnswered(failures)


async def connect(urls: str | Sequence[str], **kwargs: Any) -> AbstractConnection:
    """A plain connection to the first node that answers (for one command or one batch)."""
    return await _first_answer(urls, lambda url: _connect_one(url, **kwargs))


async def connect_robust(
    urls: str | Sequence[str], *, timeout: float | None = None, **kwargs: Any
) -> AbstractRobustConnection:
    """A robust connection to the first node that answers; it reconnects to any of them."""
    nodes = split_amqp_urls(urls)

    async def attempt(url: str) -> AbstractRobustConnection:
        connection = FailoverConnection(url, nodes, **kwargs)
        try:
            await connection.connect(timeout=timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        return connection

    return await _first_answer(nodes, attempt)


class FailoverConnection(RobustConnection):
    """A `RobustConnection` whose every reconnect attempt goes to the next node of `nodes`.

    aio-pika's robust connection reconnects to its one URL. It clears `transport` before each
    connection attempt; once this connection has been up, that is where it moves on to the next
    node, so that a lost node costs one failed attempt per round, not the connection.
    """

    def __init__(self, url: str, nodes: Sequence[str], **kwargs: Any) -> None:
        self._nodes = [URL(node) for node in nodes] or [URL(url)]
        self._next = (nodes.index(url) + 1) % len(self._nodes) if url in nodes else 0
        self._was_up = False
        self._transport: UnderlayConnection | None = None
        super().__init__(URL(url), **kwargs)

    @property
    def transport(self) -> UnderlayConnection | None:
        return self._transport

    @transport.setter
    def transport(self, value: UnderlayConnection | None) -> None:
        if value is None and self._was_up and not self._close_called and len(self._nodes) > 1:
            self.url = self._nodes[self._next]
            self._next = (self._next + 1) % len(self._nodes)
        self._transport = value

    async def _on_connected(self) -> None:
        self._was_up = True
        await super()._on_connected()
