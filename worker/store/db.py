"""Connection pool creation: one pool per process, JSON codecs registered on every connection, and
the reset on release skipped for a connection whose session is known to hold nothing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of our own or one borrowed from the pool: the store functions take either.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


# Binary codecs: asyncpg decodes a whole row read as one value (a composite, see event_state) only
# when every column of it has a binary codec. jsonb's binary form is a version byte, then the text.
_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: object) -> bytes:
    return _JSONB_VERSION + json.dumps(value).encode()


def _decode_jsonb(data: bytes) -> object:
    return json.loads(data[1:])


def _encode_json(value: object) -> bytes:
    return json.dumps(value).encode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "json", encoder=_encode_json, decoder=json.loads, schema="pg_catalog", format="binary"
    )


if TYPE_CHECKING:
    _ConnectionBase = asyncpg.Connection[asyncpg.Record]
else:  # generic in the stubs only
    _ConnectionBase = asyncpg.Connection


class PooledConnection(_ConnectionBase):
    """A pool's connection that knows whether its session was left as a new one's.

    The pool's reset (`Connection.reset`: unlock all advisory locks, close cursors, unlisten, reset
    settings) costs a round trip per release. A session whose last statement released its locks and
    that set, listened to and kept open nothing (the processor's sessions: see `mark_clean`) skips it.
    """

    _clean = False

    def mark_clean(self) -> None:
        self._clean = True

    def forget_clean(self) -> None:
        self._clean = False

    def take_clean(self) -> bool:
        clean, self._clean = self._clean, False
        return clean


def mark_clean(conn: Connection) -> None:
    """Hand `conn` back to its pool without the reset query, this once.

    Only for a session that holds no advisory lock, no open transaction or cursor, no LISTEN and no
    changed setting: the processor's session after `commit.commit_result` released its locks (the
    handlers' entity stores do none of those things).
    """
    # A pool's proxy passes what it does not have on to its connection; another class has no mark.
    mark = getattr(conn, "mark_clean", None)
    if mark is not None:
        mark()


async def _forget_clean(conn: PoolConnectionProxy[asyncpg.Record]) -> None:
    # Per acquisition: a mark left by a release that did not reset (a closed connection) never counts.
    forget = getattr(conn, "forget_clean", None)
    if forget is not None:
        forget()


async def _reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # The pool has rolled back an open transaction and dropped the listeners before this.
    if isinstance(conn, PooledConnection) and conn.take_clean() and not conn.is_in_transaction():
        return
    await conn.reset()


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        setup=_forget_clean,
        reset=_reset,
        connection_class=PooledConnection,
        command_timeout=60,
        # The entity's lock and its state are read in one call (sevsync.event_state): only read
        # committed gives the read a snapshot taken after the lock was granted, whatever the
        # database's or role's default. Sent at connect, so the pool's RESET ALL keeps it.
        server_settings={"default_transaction_isolation": "read committed"},
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only for a lazily created pool
        raise RuntimeError("could not create the database pool")
    return pool
