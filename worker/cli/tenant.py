"""`sevsync tenant connect|show|disconnect|settings|doctor`: a tenant's sevDesk connection and settings."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import Settings
from .arguments import TENANT_HELP, Commands, Parser, tenant_id
from .errors import CliError
from .resources import cipher, pool
from .skipped import skipped_hint
from .tenant_doctor import add_doctor_command, check_changed_settings
from .tenant_settings import add_settings_options, settings_changes

# `tenant connect` tests the token with one quick call, not the worker's patient retries.
CONNECT_ATTEMPTS = 2
CONNECT_BUDGET_SECONDS = 5.0


def add_commands(commands: Commands) -> None:
    tenant = commands.add_parser("tenant", help="connect tenants and change their settings")
    tenant_cmds = tenant.add_subparsers(
        dest="tenant_command", required=True, metavar="ACTION", parser_class=Parser
    )
    connect = tenant_cmds.add_parser(
        "connect",
        help="test a sevDesk API token (read from stdin) and store it",
        description="Read the tenant's sevDesk API token from the first line of stdin (never an "
        "argument, so that it stays out of the shell history and the process list), test it with one "
        "call to SEVSYNC_SEVDESK_URL, and store it encrypted with SEVSYNC_SECRET_KEYS. "
        "Example: sevsync tenant connect acme < token.txt",
    )
    connect.add_argument("tenant", help=TENANT_HELP)
    connect.set_defaults(run=_cmd_tenant_connect)
    show = tenant_cmds.add_parser("show", help="print a tenant's connection and settings (never the token)")
    show.add_argument("tenant", help=TENANT_HELP)
    show.set_defaults(run=_cmd_tenant_show)
    disconnect = tenant_cmds.add_parser("disconnect", help="remove the token; links are kept")
    disconnect.add_argument("tenant", help=TENANT_HELP)
    disconnect.set_defaults(run=_cmd_tenant_disconnect)
    settings = tenant_cmds.add_parser("settings", help="change a tenant's sync settings")
    settings.add_argument("tenant", help=TENANT_HELP)
    add_settings_options(settings)
    settings.set_defaults(run=_cmd_tenant_settings)
    add_doctor_command(tenant_cmds)


async def _cmd_tenant_connect(args: argparse.Namespace, settings: Settings) -> int:
    from ..sevdesk.client import DEFAULT_USER_AGENT, RetryPolicy
    from ..sevdesk.factory import client_from_settings
    from ..sevdesk.token import ApiToken
    from ..skipped import refusal, waiting_count
    from ..tenants.service import connect_tenant, resume_parked

    raw = sys.stdin.readline()
    try:
        token = ApiToken(raw)
    except ValueError as exc:
        raise CliError(f"no usable token on stdin: {exc}") from None
    token_cipher = cipher(settings)
    # The token check has always introduced itself with the client's default, not SEVSYNC_USER_AGENT.
    check = RetryPolicy(attempts=CONNECT_ATTEMPTS, budget_seconds=CONNECT_BUDGET_SECONDS)
    async with (
        pool(settings) as db,
        client_from_settings(settings, retry=check, user_agent=DEFAULT_USER_AGENT) as client,
    ):
        record = await connect_tenant(db, client, token_cipher, tenant_id(args.tenant), token)
        resumed = await resume_parked(
            db, settings.amqp_url.get_secret_value(), settings.queue, record.tenant_id
        )
        waiting = await waiting_count(db, record.tenant_id)
    tenant = record.tenant_id
    print(f"tenant {tenant} connected to sevDesk" + (f"; resumed {resumed} parked events" if resumed else ""))
    if not record.enabled:
        print(f"not enabled yet: its events are skipped until `sevsync tenant settings {tenant} --enable`")
        print(
            f"skipped events are kept {settings.skipped_retention_days} days and can be sent once it "
            f"is enabled: sevsync skipped replay {tenant}"
        )
    if waiting:
        print(skipped_hint(tenant, waiting, refusal(record)))
    return 0


async def _cmd_tenant_show(args: argparse.Namespace, settings: Settings) -> int:
    from ..skipped import waiting_count
    from ..store.tenants import TenantRepository
    from ..tenants.service import describe_tenant

    async with pool(settings) as db:
        repo = TenantRepository(db)
        record = await repo.get(args.tenant)
        if record is None:
            raise CliError(f"tenant {args.tenant} is not known")
        links, waiting = await repo.link_counts(args.tenant), await waiting_count(db, args.tenant)
        print(json.dumps(describe_tenant(record, links, skipped_waiting=waiting), indent=2))
    return 0


async def _cmd_tenant_disconnect(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.service import disconnect_tenant

    async with pool(settings) as db:
        record = await disconnect_tenant(db, args.tenant)
    print(f"tenant {record.tenant_id} disconnected; its links are kept")
    return 0


async def _cmd_tenant_settings(args: argparse.Namespace, settings: Settings) -> int:
    from ..skipped import refusal, waiting_count
    from ..store.tenants import TenantRepository
    from ..tenants.service import TenantError, change_settings, describe_tenant

    async with pool(settings) as db:
        current = await TenantRepository(db).get(args.tenant)
        if current is None:
            raise TenantError(
                f"tenant {args.tenant} is not known; connect it first with `sevsync tenant connect`"
            )
        changes = settings_changes(args, current.settings.model_dump())
        record = await change_settings(db, args.tenant, changes, args.enabled)
        print(json.dumps(describe_tenant(record, {})["settings"] | {"enabled": record.enabled}, indent=2))
        waiting = await waiting_count(db, record.tenant_id) if args.enabled else 0
        # After the store: the checks the change concerns, on stderr (see tenant_doctor.py).
        await check_changed_settings(settings, record, changes)
    if waiting:
        # stderr: stdout stays the JSON a script reads.
        print(skipped_hint(record.tenant_id, waiting, refusal(record)), file=sys.stderr)
    return 0
