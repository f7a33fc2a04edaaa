"""A TCP proxy for simulating server outages without touching the real servers.

The worker under test talks to RabbitMQ or Postgres through a :class:`TcpProxy`; the test helpers keep
using the real URLs. :meth:`TcpProxy.cut` is what a client sees when its server dies: every open
connection is reset, and every new one is accepted and reset at once, until :meth:`TcpProxy.restore`.
:meth:`TcpProxy.stall` is a server that stops answering: the bytes sent either way are read and held,
not passed on, until :meth:`TcpProxy.restore` (they flow on) or :meth:`TcpProxy.cut` (they are lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

COPY_CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target_host``:``target_port`` while not cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0  # connections accepted while not cut (forwarded)
        self.refused = 0  # connections accepted and reset while cut
        self.held = 0  # bytes read while stalled and not passed on (yet)
        self._cut = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy in front of the server named by ``url`` (amqp://, postgresql://, ...)."""
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError("the URL needs an explicit host and port")
        return cls(parts.hostname, parts.port)

    def url(self, url: str, **query: str) -> str:
        """``url`` with its host and port replaced by this proxy's, plus extra query parameters."""
        parts = urlsplit(url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        extra = "&".join(f"{key}={value}" for key, value in query.items())
        query_string = "&".join(q for q in (parts.query, extra) if q)
        return urlunsplit(parts._replace(netloc=netloc, query=query_string))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Reset every open connection; reset new ones at once until :meth:`restore`."""
        self._cut = True
        for transport in list(self._transports):
            _reset(transport)
        # Held bytes go nowhere now: their copy tasks see the reset connections and end.
        self._flowing.set()
        # The copy tasks notice the resets on their own; wait for them so the cut is complete.
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def stall(self) -> None:
        """Hold what either side sends from now on, without closing anything."""
        self._flowing.clear()

    def restore(self) -> None:
        self._cut = False
        self._flowing.set()

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            self.refused += 1
            _reset(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            _reset(writer)
            return
        if self._cut:  # cut while connecting upstream
            _reset(writer)
            _reset(upstream_writer)
            return
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        pair = (writer.transport, upstream_writer.transport)
        self._transports.update(pair)
        self._tasks.add(task)
        try:
            await asyncio.gather(
                self._copy(reader, upstream_writer),
                self._copy(upstream_reader, writer),
            )
        finally:
            self._tasks.discard(task)
            self._transports.difference_update(pair)
            for transport in pair:
                transport.abort()

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(COPY_CHUNK):
                if not self._flowing.is_set():
                    self.held += len(data)
                    await self._flowing.wait()
                    self.held -= len(data)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            # One side is gone; the caller aborts both.
            pass


def _reset(stream: asyncio.StreamWriter | asyncio.WriteTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), as the kernel of a crashed server's host would."""
    transport = stream.transport if isinstance(stream, asyncio.StreamWriter) else stream
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
