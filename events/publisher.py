"""Publishing events to RabbitMQ with broker confirms and, by default, `mandatory`.

Inbound events must never vanish: a message the broker routes to no queue (no worker has declared
the topology yet, or nobody handles its routing key) is an error to the caller, not a silent drop.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError, DeliveryError, PublishError

from .connection import connect_robust
from .envelope import Envelope
from .errors import InvalidEvent
from .registry import InboundEvent, parse_inbound
from .types import utc_now

__all__ = [
    "EventFileError",
    "EventFilePublishFailed",
    "EventNotRouted",
    "EventPublisher",
    "PublishFailed",
    "publish_file",
    "read_event_file",
    "read_event_file_lines",
]

CONTENT_TYPE: Final = "application/json"
# What a publish raises when its connection went away before the broker confirmed it (the node died
# or the network dropped), as opposed to an answer from the broker.
_CONNECTION_LOST: Final = (AMQPConnectionError, ConnectionError, ChannelInvalidStateError)
# Pauses between sends after a lost connection, doubling up to the longest.
_FIRST_PAUSE: Final = 0.05
_LONGEST_PAUSE: Final = 1.0


class PublishFailed(Exception):
    """The broker did not take the message: it answered with a nack, or routed it to no queue."""

    def __init__(self, message: str, *, exchange: str, routing_key: str, message_id: str | None) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.routing_key = routing_key
        self.message_id = message_id


class EventNotRouted(PublishFailed):
    """A mandatory message reached no queue: nobody is bound to its routing key on that exchange."""


class EventPublisher:
    """Publishes to one exchange over a robust connection; each publish waits for the broker's confirm.

    `amqp_url` may list several nodes of a cluster, comma-separated: the publisher connects to the
    first that answers and, when it loses it, reconnects to any of them (`sevsync_events.connection`).

    Publishes are `mandatory` by default: a message that no queue is bound to receive raises
    `EventNotRouted` (naming exchange and routing key) instead of being confirmed and dropped, e.g.
    an inbound event published before any sevsync worker declared its queue (`sevsync topology
    declare` does that without a worker). Pass `mandatory=False` only where an unrouted message is
    someone else's affair, as for sevsync's own results on `sevsync.out`.

        async with EventPublisher(url, "crm.events") as publisher:
            await publisher.publish(envelope)
    """

    def __init__(
        self,
        amqp_url: str,
        exchange: str,
        *,
        declare: bool = True,
        mandatory: bool = True,
        confirm_timeout: float | None = 30.0,
        resend_within: float = 60.0,
        connection_name: str = "sevsync publisher",
    ) -> None:
        self._amqp_url = amqp_url
        self._exchange_name = exchange
        self._declare = declare
        self._mandatory = mandatory
        self._confirm_timeout = confirm_timeout
        self._resend_within = resend_within
        self._connection_name = connection_name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect, open a confirming channel and declare (or check) the exchange."""
        if self._connection is not None:
            return
        connection = await connect_robust(
            self._amqp_url, client_properties={"connection_name": self._connection_name}
        )
        try:
            # on_return_raises makes an unroutable mandatory message fail its publish() call
            # instead of only reaching a callback nobody awaits.
            channel = await connection.channel(publisher_confirms=True, on_return_raises=self._mandatory)
            # connect_robust gives robust channels: they reopen by themselves after a reconnect.
            assert isinstance(channel, AbstractRobustChannel)
            self._exchange = await self._get_exchange(channel)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel = connection, channel

    async def _get_exchange(self, channel: AbstractRobustChannel) -> AbstractExchange:
        if self._declare:
            return await channel.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        # Passive: fails clearly when the exchange is missing instead of publishing into nothing.
        return await channel.get_exchange(self._exchange_name, ensure=True)

    async def close(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None:
            await connection.close()

    async def publish(self, envelope: Envelope[Any]) -> None:
        """Publish one event: routing key = event_type, message_id = event_id."""
        await self.publish_raw(envelope.to_json_bytes(), envelope.event_type, str(envelope.event_id))

    async def publish_raw(self, body: bytes, routing_key: str, message_id: str | None = None) -> None:
        """Publish bytes as they are (e.g. a dead letter being replayed), with the usual properties."""
        if self._exchange is None:
            raise RuntimeError("EventPublisher is not open; use it as `async with` or call open()")
        message = aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            timestamp=utc_now(),
        )
        try:
            await self._publish_until_answered(message, routing_key)
        except PublishError as error:  # subclass of DeliveryError: catch it first
            raise EventNotRouted(
                f"no queue is bound to routing key '{routing_key}' on exchange '{self._exchange_name}'",
                exchange=self._exchange_name,
                routing_key=routing_key,
                message_id=message_id,
            ) from error
        except DeliveryError as error:
            raise PublishFailed(
                f"the broker refused the message for routing key '{routing_key}' "
                f"on exchange '{self._exchange_name}'",
                exchange=self._exchange_name,
                routing_key=routing_key,
                message_id=message_id,
            ) from error

    async def _publish_until_answered(self, message: aio_pika.Message, routing_key: str) -> None:
        """Publish; if the connection goes before the broker answered, send again once it is back.

        The `resend_within` window starts at the first loss. A channel that stays closed on a live
        connection (its exchange deleted, say) lost no node: its error is raised as it is.
        """
        loop = asyncio.get_running_loop()
        lost_at: float | None = None
        pause = _FIRST_PAUSE
        closed_on_live_connection = 0
        failure: BaseException | None = None
        while True:
            exchange, channel, connection = self._exchange, self._channel, self._connection
            if exchange is None or channel is None or connection is None:
                raise RuntimeError("EventPublisher was closed while publishing") from failure
            left = None if lost_at is None else lost_at + self._resend_within - loop.time()
            if left is not None and left <= 0:
                raise AMQPConnectionError(
                    f"no RabbitMQ node took the connection back within {self._resend_within:g} s"
                ) from failure
            try:
                # Once lost, a send waits for the connection too: the window bounds that wait.
                await asyncio.wait_for(
                    exchange.publish(
                        message, routing_key, mandatory=self._mandatory, timeout=self._confirm_timeout
                    ),
                    timeout=left,
                )
                return
            except DeliveryError:
                raise  # the broker's answer: publish_raw names it
            except asyncio.CancelledError:
                self._raise_if_closed_meanwhile(channel, failure)
                raise
            except Exception as error:
                # After a loss, no answer in time is one more sign of it.
                if not _connection_may_be_lost(error) and (
                    lost_at is None or not isinstance(error, TimeoutError)
                ):
                    raise
                failure = error
            lost_at = loop.time() if lost_at is None else lost_at
            # Always a pause first: a loss the connection has not noticed yet fails a send at once.
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
            try:
                # The robust connection reconnects (to any node) and reopens the channel by itself.
                await asyncio.wait_for(channel.ready(), timeout=_LONGEST_PAUSE)
                closed_on_live_connection = 0
            except TimeoutError:
                live = connection.connected.is_set()
                closed_on_live_connection = closed_on_live_connection + 1 if live else 0
                if closed_on_live_connection >= 2:
                    raise failure from None
            except asyncio.CancelledError:
                self._raise_if_closed_meanwhile(channel, failure)
                raise

    def _raise_if_closed_meanwhile(
        self, channel: AbstractRobustChannel, failure: BaseException | None
    ) -> None:
        """close() cancels what waits on the connection; a cancel of the caller's own task goes on up."""
        task = asyncio.current_task()
        if self._channel is not channel and not (task is not None and task.cancelling()):
            raise RuntimeError("EventPublisher was closed while publishing") from failure


def _connection_may_be_lost(error: Exception) -> bool:
    # aiormq fails a pending confirm with a bare Exception when the connection ends without a reason.
    return isinstance(error, _CONNECTION_LOST) or type(error) is Exception


# --- JSON-lines files -----------------------------------------------------------------------------


class EventFileError(ValueError):
    """A line of an events file is not a valid inbound event; nothing of the file was published."""

    def __init__(self, line: int, error: InvalidEvent) -> None:
        super().__init__(f"line {line}: {error.detail}")
        self.line = line
        self.error = error


class EventFilePublishFailed(Exception):
    """Publishing an events file stopped at one line; the lines before it were published.

    `published` events (every line before `line`) are with the broker; the event of `line` and the
    `not_published` ones after it were not sent, except that the event of `line` may have reached
    the broker when `uncertain` (no answer came, e.g. the connection dropped).
    """

    def __init__(
        self, line: int, event_id: str, published: int, not_published: int, cause: BaseException
    ) -> None:
        self.line = line
        self.event_id = event_id
        self.published = published
        self.not_published = not_published
        self.cause = cause
        self.uncertain = not isinstance(cause, PublishFailed)
        fate = "may or may not have reached the broker" if self.uncertain else "was not published"
        super().__init__(
            f"line {line} (event {event_id}): {_one_line(cause)}; its event {fate}, "
            f"{_events(published)} before it were published, {_events(not_published)} after it were not"
        )


def read_event_file(path: str | os.PathLike[str]) -> list[tuple[bytes, InboundEvent]]:
    """Every non-blank line of a JSON-lines file, validated: (the line's bytes, the parsed event)."""
    return [(body, event) for _, body, event in read_event_file_lines(path)]


def read_event_file_lines(path: str | os.PathLike[str]) -> list[tuple[int, bytes, InboundEvent]]:
    """As `read_event_file`, each with its line number (counting blank lines too)."""
    content = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)  # editors on Windows add one
    events = []
    # A JSON text cannot hold a raw CR or LF (they must be escaped), so splitting is safe.
    for number, line in enumerate(content.splitlines(), start=1):
        body = line.strip()
        if not body:
            continue
        try:
            events.append((number, body, parse_inbound(body)))
        except InvalidEvent as error:
            raise EventFileError(number, error) from None
    return events


async def publish_file(
    path: str | os.PathLike[str],
    amqp_url: str,
    exchange: str,
    *,
    declare: bool = True,
    mandatory: bool = True,
) -> int:
    """Publish every event of a JSON-lines file, in order; returns how many were published.

    The whole file is validated first, so a bad line (`EventFileError`, "line N: ...") publishes
    nothing. Lines go out byte for byte as written, so what arrives is exactly what was checked.
    Each event is confirmed by the broker before the next goes out; one that fails (routed to no
    queue, refused, or unanswered) stops the file with `EventFilePublishFailed`, which says how far
    it got.
    """
    numbered = read_event_file_lines(path)
    if not numbered:
        return 0
    async with EventPublisher(amqp_url, exchange, declare=declare, mandatory=mandatory) as publisher:
        for index, (line, body, event) in enumerate(numbered):
            try:
                await publisher.publish_raw(body, event.event_type, str(event.event_id))
            except Exception as error:
                remaining = len(numbered) - index - 1
                raise EventFilePublishFailed(line, str(event.event_id), index, remaining, error) from error
    return len(numbered)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _events(count: int) -> str:
    return f"{count} event" + ("" if count == 1 else "s")
