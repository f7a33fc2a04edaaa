"""`migrate()` and `sevsync migrate` against databases this module creates and drops, and the packaging
that lets an installed sevsync find its SQL."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sevsync.store.migrations import Migration, available_migrations, migrate

from ..cli_runner import Result, clean_env, run, sevsync
from ..conftest import Services

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 120.0

# CONTRACT section 7: the columns dashboards and other tools rely on.
CONTRACT_COLUMNS: dict[str, set[str]] = {
    "sync_outcome": {
        "id", "event_id", "tenant_id", "event_type", "entity_type", "entity_id", "status", "reason",
        "attempt", "sevdesk_object", "sevdesk_id", "api_calls", "duration_ms", "error", "created_at",
    },
    "entity_link": {
        "tenant_id", "entity_type", "entity_id", "sevdesk_object", "sevdesk_id", "sevdesk_number",
        "synced_version", "synced_at",
    },
    "dead_letter": {
        "id", "event_id", "tenant_id", "event_type", "reason", "error", "attempts", "body", "dead_at",
        "replayed_at",
    },
    "tenant_integration": {"tenant_id", "provider", "status", "enabled", "settings", "connected_at"},
}  # fmt: skip
CONTRACT_VIEWS = ("entity_status", "tenant_health")


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _drop(services: Services, name: str) -> None:
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def missing_database(services: Services) -> AsyncIterator[str]:
    """The URL of a database that does not exist yet (dropped afterwards if a test created it)."""
    name = f"sevsync_migtest_{uuid.uuid4().hex[:12]}"
    try:
        yield _with_database(services.postgres_url, name)
    finally:
        await _drop(services, name)


@pytest.fixture
async def empty_database(services: Services, missing_database: str) -> str:
    """A freshly created database without any schema."""
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'CREATE DATABASE "{urlsplit(missing_database).path.lstrip("/")}"')
    finally:
        await conn.close()
    return missing_database


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def _versions(migrations: Sequence[Migration]) -> list[int]:
    return [m.version for m in migrations]


# --- migrate() -----------------------------------------------------------------------------------


def test_the_package_ships_the_initial_migration() -> None:
    shipped = available_migrations()
    assert [(m.version, m.name) for m in shipped][:1] == [(1, "initial")]
    assert _versions(shipped) == sorted(set(_versions(shipped)))
    assert shipped[0].sql == (ROOT / "schema" / "0001_initial.sql").read_text(encoding="utf-8")


async def test_migrate_applies_each_migration_once(empty_database: str) -> None:
    first = await migrate(empty_database)
    second = await migrate(empty_database)

    assert _versions(first) == _versions(available_migrations())
    assert 1 in _versions(first)
    assert second == []


async def test_applied_migrations_are_recorded(empty_database: str) -> None:
    await migrate(empty_database)

    rows = await _fetch(
        empty_database,
        "SELECT version, name, checksum, applied_at FROM sevsync.schema_migration ORDER BY version",
    )
    assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
        (m.version, m.name, m.checksum) for m in available_migrations()
    ]
    initial_sql = (ROOT / "schema" / "0001_initial.sql").read_bytes()
    assert rows[0]["checksum"] == hashlib.sha256(initial_sql).hexdigest()
    assert all(r["applied_at"] is not None for r in rows)


async def test_a_changed_applied_migration_is_not_run_again(empty_database: str) -> None:
    await migrate(empty_database)
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("UPDATE sevsync.schema_migration SET checksum = 'edited' WHERE version = 1")
    finally:
        await conn.close()

    # Re-running 0001 would fail on CREATE TABLE; it must be left alone.
    assert await migrate(empty_database) == []


async def test_concurrent_migrations_apply_once(empty_database: str) -> None:
    results = await asyncio.gather(migrate(empty_database), migrate(empty_database))

    applied = [version for result in results for version in _versions(result)]
    assert sorted(applied) == _versions(available_migrations())  # each exactly once, by one of the two
    assert [] in results
    rows = await _fetch(empty_database, "SELECT version FROM sevsync.schema_migration ORDER BY version")
    assert [r["version"] for r in rows] == _versions(available_migrations())


async def test_contract_tables_columns_and_views_exist(empty_database: str) -> None:
    await migrate(empty_database)

    rows = await _fetch(
        empty_database,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'sevsync'",
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    for table, expected in CONTRACT_COLUMNS.items():
        assert table in columns, f"table sevsync.{table} is missing"
        assert expected <= columns[table], f"sevsync.{table} lacks {sorted(expected - columns[table])}"

    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute(
            "INSERT INTO sevsync.tenant_integration (tenant_id, status, enabled) "
            "VALUES ('acme', 'connected', true)"
        )
        await conn.execute(
            """
            INSERT INTO sevsync.sync_outcome (event_id, tenant_id, event_type, entity_type, entity_id, status)
            VALUES ($1, 'acme', 'customer.created', 'customer', 'cust-1', 'succeeded')
            """,
            uuid.uuid4(),
        )
        for view in CONTRACT_VIEWS:
            assert len(await conn.fetch(f"SELECT * FROM sevsync.{view}")) == 1, view
        health = await conn.fetchrow("SELECT * FROM sevsync.tenant_health WHERE tenant_id = 'acme'")
        assert health is not None
        assert (health["integration_status"], health["succeeded_24h"], health["failed_24h"]) == (
            "connected",
            1,
            0,
        )
        status = await conn.fetchrow("SELECT * FROM sevsync.entity_status WHERE entity_id = 'cust-1'")
        assert status is not None
        assert status["status"] == "succeeded"
    finally:
        await conn.close()


# --- sevsync migrate -----------------------------------------------------------------------------


async def _sevsync(database_url: str, *args: str) -> Result:
    """The installed `sevsync` script."""
    env = clean_env(pythonpath=False) | {"SEVSYNC_DATABASE_URL": database_url}
    return await sevsync(*args, env=env, timeout=COMMAND_TIMEOUT)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


async def test_cli_creates_the_database_and_migrates(missing_database: str) -> None:
    first = await _sevsync(missing_database, "migrate", "--create-database")

    assert first.returncode == 0, first.stderr
    assert _lines(first.stdout) == ["created the database"] + [
        f"applied {m.version:04d}_{m.name}" for m in available_migrations()
    ]
    tables = await _fetch(missing_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'sevsync'")
    assert set(CONTRACT_COLUMNS) <= {r["tablename"] for r in tables}

    again = await _sevsync(missing_database, "migrate", "--create-database")

    assert again.returncode == 0, again.stderr
    assert _lines(again.stdout) == ["schema is up to date"]


async def test_cli_migrations_started_together_apply_once(missing_database: str) -> None:
    results = await asyncio.gather(
        _sevsync(missing_database, "migrate", "--create-database"),
        _sevsync(missing_database, "migrate", "--create-database"),
    )

    for result in results:
        assert result.returncode == 0, result.stderr
    outputs = [line for result in results for line in _lines(result.stdout)]
    assert outputs.count("created the database") == 1
    assert outputs.count("applied 0001_initial") == 1
    rows = await _fetch(missing_database, "SELECT version FROM sevsync.schema_migration")
    assert sorted(r["version"] for r in rows) == _versions(available_migrations())


async def test_cli_migrate_without_the_database_is_one_line(missing_database: str) -> None:
    result = await _sevsync(missing_database, "migrate")

    assert result.returncode != 0
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sevsync: error:")
    assert "does not exist" in lines[0]


# --- packaging -----------------------------------------------------------------------------------

PACKAGES = {"sevsync": ROOT / "worker", "sevsync_events": ROOT / "events", "sevsync_schema": ROOT / "schema"}


def _can_build_wheels() -> bool:
    """setuptools makes wheels with the `wheel` package, or on its own from 70.1 on."""
    return any(importlib.util.find_spec(name) for name in ("wheel", "setuptools.command.bdist_wheel"))


def _build_distribution(out: Path) -> tuple[Path, str]:
    """Build the project as an installable archive; returns it and the prefix of its installed files.

    A wheel where this virtualenv can make one. Without build isolation (no network) a virtualenv that
    has setuptools but not `wheel` cannot, so there the same build and install steps a wheel is made
    of run through `bdist_dumb`, which zips the installed tree.
    """
    source = out / "src"
    # A copy, so that building leaves no build/ or egg-info behind in the checkout.
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in PACKAGES.values():
        shutil.copytree(folder, source / folder.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = out / "dist"
    if _can_build_wheels():
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            ".",
        ]
        pattern, prefix = "*.whl", ""
    else:
        command = [sys.executable, "-c", "from setuptools import setup; setup()", "-q"]
        command += ["bdist_dumb", "--relative", "--format=zip", "-d", str(dist)]
        pattern = "*.zip"
        prefix = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/"
    built = subprocess.run(
        command, cwd=source, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [archive] = dist.glob(pattern)
    return archive, prefix


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The built archive and the paths of its files as installed into site-packages."""
    archive, prefix = _build_distribution(tmp_path_factory.mktemp("build"))
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    installed = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
    return archive, installed


def test_the_distribution_ships_schema_event_schemas_and_modules(
    distribution: tuple[Path, list[str]],
) -> None:
    _, installed = distribution
    files = set(installed)

    assert "sevsync_schema/0001_initial.sql" in files
    sql = {f"sevsync_schema/{p.name}" for p in (ROOT / "schema").glob("*.sql")}
    assert sql <= files
    schemas = {
        f"sevsync_events/json_schema/{p.name}" for p in (ROOT / "events" / "json_schema").glob("*.json")
    }
    assert schemas <= files
    for package, folder in PACKAGES.items():
        modules = {
            f"{package}/{PurePosixPath(*p.relative_to(folder).parts)}"
            for p in folder.rglob("*.py")
            if "__pycache__" not in p.parts
        }
        assert modules, folder
        missing = sorted(modules - files)
        assert not missing, f"not in the distribution (add the package to pyproject.toml): {missing}"
    assert {
        "sevsync/py.typed",
        "sevsync_events/py.typed",
        "sevsync/cli/__init__.py",
        "sevsync/cli/__main__.py",
    } <= files
    top_level = {PurePosixPath(name).parts[0] for name in installed}
    assert {t for t in top_level if not t.endswith((".dist-info", ".egg-info"))} == set(PACKAGES)


def test_the_distribution_declares_the_console_script(distribution: tuple[Path, list[str]]) -> None:
    archive, _ = distribution
    with zipfile.ZipFile(archive) as zf:
        [entry_points] = [n for n in zf.namelist() if n.endswith("-info/entry_points.txt")]
        text = zf.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "sevsync = sevsync.cli:main" in text


async def test_an_installed_copy_migrates_without_the_checkout(
    distribution: tuple[Path, list[str]], missing_database: str, tmp_path: Path
) -> None:
    archive, _ = distribution
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unpacked")
    prefix_dir = next(p.parent for p in (tmp_path / "unpacked").rglob("sevsync_schema") if p.is_dir())
    shutil.move(prefix_dir, site)
    env = {"PYTHONPATH": str(site), "SEVSYNC_DATABASE_URL": missing_database}
    # The unpacked copy comes first on the path, ahead of the editable install of the checkout.
    env = clean_env(pythonpath=False) | env
    where = await run(
        [sys.executable, "-c", "import sevsync_schema; print(sevsync_schema.__file__)"],
        env,
        cwd=tmp_path,
        timeout=COMMAND_TIMEOUT,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site)

    command = [sys.executable, "-m", "sevsync.cli", "migrate", "--create-database"]
    result = await run(command, env, cwd=tmp_path, timeout=COMMAND_TIMEOUT)

    assert result.returncode == 0, result.stderr
    assert "applied 0001_initial" in _lines(result.stdout)


async def test_deals_cancelled_before_their_links_existed_get_a_cancellation_link(
    empty_database: str,
) -> None:
    await migrate(empty_database)
    backfill = next(m for m in available_migrations() if m.name == "deal_cancellation_links")
    conn = await asyncpg.connect(empty_database)
    try:
        # As an older sevsync left them: the SR's id only in the deal_invoice link's details. Deal
        # "9" shares its id with a CRM invoice whose correcting voucher holds the cancellation row.
        await conn.execute(
            """
            INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id,
                                             sevdesk_number, synced_version, details, cancelled_at)
            VALUES ('acme', 'deal_invoice', 'deal-1', 'Invoice', '501', 'RE-1', 3,
                    '{"cancellation_id": "777"}', now()),
                   ('acme', 'deal_invoice', 'deal-2', 'Invoice', '502', NULL, 2,
                    '{"deleted": true}', now()),
                   ('acme', 'deal_invoice', '9', 'Invoice', '503', 'RE-3', 4,
                    '{"cancellation_id": "778"}', now()),
                   ('acme', 'cancellation', '9', 'Voucher', '900', 'ST-9', 2, '{}', NULL)
            """
        )
        await conn.execute(backfill.sql)
        rows = await conn.fetch(
            "SELECT entity_id, sevdesk_object, sevdesk_id, synced_version FROM sevsync.entity_link "
            "WHERE entity_type = 'cancellation' ORDER BY entity_id"
        )
    finally:
        await conn.close()

    assert [tuple(r) for r in rows] == [("9", "Voucher", "900", 2), ("deal-1", "Invoice", "777", None)]
