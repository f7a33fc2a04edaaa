"""Applies the numbered SQL files of `sevsync_schema` in order, once each.

Safe to run from several processes at once: a Postgres advisory lock serialises the runners, and the
applied versions are recorded in `sevsync.schema_migration`. The SQL ships inside the installed
package, so `sevsync migrate` needs no checkout.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "sevsync_schema"
# Any constant works; it only has to be the same for every runner. ("sevsync" in ASCII.)
MIGRATION_LOCK_KEY = 0x73657673796E63
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


async def migrate(database_url: str) -> list[Migration]:
    """Bring the schema up to date; returns the migrations this call applied."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return await _apply_pending(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection) -> list[Migration]:
    await conn.execute(
        """
        CREATE SCHEMA IF NOT EXISTS sevsync;
        CREATE TABLE IF NOT EXISTS sevsync.schema_migration (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    rows = await conn.fetch("SELECT version, name, checksum FROM sevsync.schema_migration")
    applied = {row["version"]: row for row in rows}
    done: list[Migration] = []
    for migration in available_migrations():
        previous = applied.get(migration.version)
        if previous is not None:
            if previous["checksum"] != migration.checksum:
                # An applied migration must never change; a new numbered file is the way to alter it.
                log.warning(
                    "migration %04d_%s changed after it was applied; leaving the database as it is",
                    migration.version,
                    migration.name,
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO sevsync.schema_migration (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        done.append(migration)
    return done


async def create_database_if_missing(database_url: str) -> bool:
    """Create the database the URL names when it does not exist yet (for demos and first runs)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name:
        raise MigrationError("the database URL names no database")
    maintenance_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(maintenance_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{_quote_ident(name)}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # Another runner was quicker: a concurrent CREATE DATABASE fails on pg_database's unique index.
            return False
        return True
    finally:
        await conn.close()


def _quote_ident(name: str) -> str:
    return name.replace('"', '""')
