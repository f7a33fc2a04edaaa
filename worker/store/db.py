"""Connection pool creation: one pool per process, JSON codecs registered on every connection."""

from __future__ import annotations

import json
from typing import TypeAlias

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


async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    if pool is None:  # pragma: no cover - asyncpg returns None only for a lazily created pool
        raise RuntimeError("could not create the database pool")
    return pool
