"""`sevsync migrate` and `sevsync worker`: what a deployment runs."""

from __future__ import annotations

import argparse

from ..config import Settings
from .arguments import Commands


def add_commands(commands: Commands) -> None:
    migrate = commands.add_parser("migrate", help="create or upgrade the Postgres schema")
    migrate.add_argument(
        "--create-database",
        action="store_true",
        help="create the database named in SEVSYNC_DATABASE_URL if missing",
    )
    migrate.set_defaults(run=_cmd_migrate)

    worker = commands.add_parser("worker", help="consume CRM events and apply them in sevDesk")
    worker.set_defaults(run=_cmd_worker)


async def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ..store.migrations import create_database_if_missing, migrate
    from .service_errors import connecting_to_postgres

    url = settings.database_url.get_secret_value()
    with connecting_to_postgres(url):
        if args.create_database and await create_database_if_missing(url):
            print("created the database")
        applied = await migrate(url)
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("schema is up to date")
    return 0


async def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from ..app import run_worker

    await run_worker(settings)
    return 0
