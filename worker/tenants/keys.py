"""Re-encrypting the stored sevDesk tokens with the first key of `SEVSYNC_SECRET_KEYS`.

Rotation: put a new key first, keep the old ones after it, run `sevsync keys rotate`, then drop the
old keys. Only sevDesk rows are touched: a row another integration wrote (provider `lexware`, ...)
holds that integration's token under keys sevsync does not own.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ..store.tenants import SEVDESK
from .crypto import TokenCipher


@dataclass(frozen=True)
class RotationSummary:
    rotated: int
    # Tenants whose token no configured key decrypts; their rows were left as they were.
    undecryptable: tuple[str, ...]


async def rotate_tokens(pool: asyncpg.Pool, cipher: TokenCipher) -> RotationSummary:
    """Re-encrypt every stored sevDesk token with the cipher's first key.

    Reports through the summary and logs nothing: the CLI's error must stay the one line on stderr.

    One short transaction per row, the row locked (`FOR UPDATE`) and re-read inside it: a concurrent
    `tenant connect` either commits first, and its new token is what gets rotated, or waits for this
    row's commit and then overwrites it; it is never lost. One transaction for all rows would also be
    correct but would hold every tenant's row lock (blocking connects, disconnects and the worker's
    `auth_failed` marks) for the whole run, and would undo all progress on one failure. Per row,
    rotated rows stay rotated, which is safe: the old keys still decrypt until they are removed.
    """
    tenant_ids: list[str] = [
        row["tenant_id"]
        for row in await pool.fetch(
            "SELECT tenant_id FROM sevsync.tenant_integration "
            "WHERE provider = $1 AND token_encrypted IS NOT NULL ORDER BY tenant_id",
            SEVDESK,
        )
    ]
    rotated = 0
    undecryptable: list[str] = []
    for tenant_id in tenant_ids:
        async with pool.acquire() as conn, conn.transaction():
            stored = await conn.fetchval(
                "SELECT token_encrypted FROM sevsync.tenant_integration "
                "WHERE tenant_id = $1 AND provider = $2 FOR UPDATE",
                tenant_id,
                SEVDESK,
            )
            if stored is None:
                continue  # disconnected (or taken over by another integration) since the listing
            try:
                fresh = cipher.rotate(stored)
            except ValueError:
                # SecretKeyError (no key opens it) or a value that is not even ASCII: either way
                # unreadable. Named by tenant only, never by its content.
                undecryptable.append(tenant_id)
                continue
            await conn.execute(
                "UPDATE sevsync.tenant_integration SET token_encrypted = $2, updated_at = now() "
                "WHERE tenant_id = $1",
                tenant_id,
                fresh,
            )
            rotated += 1
    return RotationSummary(rotated=rotated, undecryptable=tuple(undecryptable))
