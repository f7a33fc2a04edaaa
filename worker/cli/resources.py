"""What commands open from the settings: the database pool and the token cipher.

Their modules are imported when a command runs, so that parsing arguments loads no database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings

if TYPE_CHECKING:
    import asyncpg

    from ..tenants.crypto import TokenCipher


def cipher(settings: Settings) -> TokenCipher:
    from ..tenants.crypto import TokenCipher

    return TokenCipher(settings.secret_keys.get_secret_value() if settings.secret_keys else None)


class pool:
    """A small database pool for one command, closed when it ends (`async with pool(settings)`)."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.database_url.get_secret_value()
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> asyncpg.Pool:
        from ..store.db import create_pool
        from .service_errors import connecting_to_postgres

        with connecting_to_postgres(self._url):
            self._pool = await create_pool(self._url, min_size=1, max_size=4)
        return self._pool

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            await self._pool.close()
