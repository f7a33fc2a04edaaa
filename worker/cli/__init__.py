"""The `sevsync` command line. Every error is one line on stderr and a non-zero exit status."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from uuid import UUID

from pydantic import ValidationError

from . import __version__
from .config import Settings
from .logs import configure_logging

if TYPE_CHECKING:
    from sevsync_events.publisher import EventFilePublishFailed

    from .store.dead_letters import DeadLetterFilter

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operational error with a message fit for one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line (the usage text is one `--help` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-12-31, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected zero or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sevsync", description="Keeps sevDesk in step with a CRM.")
    parser.add_argument("--version", action="version", version=f"sevsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    migrate = commands.add_parser("migrate", help="create or upgrade the Postgres schema")
    migrate.add_argument(
        "--create-database",
        action="store_true",
        help="create the database named in SEVSYNC_DATABASE_URL if missing",
    )
    migrate.set_defaults(run=_cmd_migrate)

    worker = commands.add_parser("worker", help="consume CRM events and apply them in sevDesk")
    worker.set_defaults(run=_cmd_worker)

    tenant = commands.add_parser("tenant", help="connect tenants and change their settings")
    tenant_cmds = tenant.add_subparsers(
        dest="tenant_command", required=True, metavar="ACTION", parser_class=_Parser
    )
    connect = tenant_cmds.add_parser(
        "connect", help="test a sevDesk API token (read from stdin) and store it"
    )
    connect.add_argument("tenant")
    connect.set_defaults(run=_cmd_tenant_connect)
    show = tenant_cmds.add_parser("show", help="print a tenant's connection and settings (never the token)")
    show.add_argument("tenant")
    show.set_defaults(run=_cmd_tenant_show)
    disconnect = tenant_cmds.add_parser("disconnect", help="remove the token; links are kept")
    disconnect.add_argument("tenant")
    disconnect.set_defaults(run=_cmd_tenant_disconnect)
    settings = tenant_cmds.add_parser("settings", help="change a tenant's sync settings")
    settings.add_argument("tenant")
    _add_settings_options(settings)
    settings.set_defaults(run=_cmd_tenant_settings)

    keys = commands.add_parser("keys", help="manage the keys that encrypt stored API tokens")
    keys_cmds = keys.add_subparsers(
        dest="keys_command", required=True, metavar="ACTION", parser_class=_Parser
    )
    rotate = keys_cmds.add_parser(
        "rotate",
        help="re-encrypt every stored sevDesk token with the first key of SEVSYNC_SECRET_KEYS",
        description="Re-encrypt every stored sevDesk API token with the first key of "
        "SEVSYNC_SECRET_KEYS; the other keys only decrypt. Put the new key first, keep the old ones "
        "after it, run this, and drop the old keys only once it exits 0. Tokens no key decrypts are "
        "left unchanged and named by tenant; the command then exits non-zero.",
    )
    rotate.set_defaults(run=_cmd_keys_rotate)

    publish = commands.add_parser(
        "publish",
        help="publish events from a JSON-lines file to the CRM exchange",
        description="Validate every line of a JSON-lines file of inbound events (all or nothing), then "
        "publish them in order to SEVSYNC_EXCHANGE, each confirmed by the broker and mandatory: an "
        "event no queue receives stops the file with an error naming its line, the exchange and the "
        "routing key, and how many events before it were published. Refused while sevsync's work "
        "queue does not exist (see `sevsync topology declare`).",
    )
    publish.add_argument("file", type=Path)
    publish.set_defaults(run=_cmd_publish)

    topology = commands.add_parser("topology", help="declare the RabbitMQ objects sevsync uses")
    topology_cmds = topology.add_subparsers(
        dest="topology_command", required=True, metavar="ACTION", parser_class=_Parser
    )
    declare_topology = topology_cmds.add_parser(
        "declare",
        help="declare exchanges, queues and bindings as a worker would, without running one",
        description="Declare everything a worker declares at start-up: the inbound and outbound "
        "exchanges, the work queue bound to every event type sevsync handles, the retry-ladder queues "
        "of SEVSYNC_RETRY_DELAYS and the dead-letter exchange and queue. Lets a CRM publish before the "
        "first worker starts. Idempotent: objects that exist as declared stay as they are. Prints "
        "what it declared.",
    )
    declare_topology.set_defaults(run=_cmd_topology_declare)

    imports = commands.add_parser(
        "import",
        help="offer the CRM the sevDesk contacts or parts it does not have yet (as events)",
        description="Page through the tenant's sevDesk contacts (organisations and persons; not the "
        "contact persons of organisations) or parts, and publish each one that is neither linked to a "
        "CRM record nor imported before as contact.imported / part.imported on the outbound exchange. "
        "Progress is kept after every page: an interrupted import continues where it stopped, a "
        "finished one starts again and offers only what is new. Records that do not fit the CRM's "
        "shape are listed on stdout and not imported.",
    )
    imports.add_argument("tenant")
    imports.add_argument("kind", choices=["contacts", "parts"])
    imports.add_argument(
        "--page-size",
        type=_page_size,
        default=100,
        metavar="N",
        help="records per sevDesk request, 1 to 1000 [100]",
    )
    imports.set_defaults(run=_cmd_import)

    sandbox = commands.add_parser("sandbox", help="run the bundled sevDesk-compatible sandbox API")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=_positive_int, default=8090)
    sandbox.add_argument(
        "--token", action="append", default=[], help="register an account with this API token (repeatable)"
    )
    sandbox.set_defaults(run=_cmd_sandbox)
    _add_dead_commands(commands)
    _add_skipped_commands(commands)
    return parser


def _add_settings_options(p: argparse.ArgumentParser) -> None:
    def toggle(name: str, dest: str, what: str) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument(f"--{name}", dest=dest, action="store_const", const=True, help=f"turn {what} on")
        group.add_argument(
            f"--no-{name}", dest=dest, action="store_const", const=False, help=f"turn {what} off"
        )

    group = p.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_const", const=True, help="sync this tenant")
    group.add_argument("--disable", dest="enabled", action="store_const", const=False, help="stop syncing")
    toggle("small-business", "small_business", "the Kleinunternehmer scheme (§19 UStG)")
    p.add_argument("--small-business-until", type=_iso_date, metavar="DATE", help="last day of the scheme")
    p.add_argument(
        "--default-tax-type",
        choices=["standard", "eu_intra_community", "eu_reverse_charge", "non_eu_export", "non_eu_service"],
    )
    toggle("auto-sync-customers", "auto_sync_customers", "customer sync")
    toggle("auto-sync-products", "auto_sync_products", "product sync")
    toggle(
        "delivery-date-in-head-text",
        "delivery_date_in_head_text",
        "the delivery date in the head text of deal invoices instead of deliveryDate (sevsync turns "
        "it on when the account refuses a delivery date equal to the invoice date)",
    )
    p.add_argument("--contact-person", metavar="ID", help="SevUser id on orders and invoices")
    p.add_argument("--unit", type=_key_value, action="append", default=[], metavar="NAME=ID")
    p.add_argument("--voucher-due-days", type=_positive_int, metavar="N")
    centre = p.add_mutually_exclusive_group()
    centre.add_argument("--cost-centre", metavar="ID")
    centre.add_argument("--no-cost-centre", action="store_true")
    p.add_argument("--booking-account", type=_key_value, action="append", default=[], metavar="CODE=NUMBER")
    p.add_argument("--remove-booking-account", action="append", default=[], metavar="CODE")
    p.add_argument("--check-account", type=_key_value, action="append", default=[], metavar="METHOD=ID")
    p.add_argument("--remove-check-account", action="append", default=[], metavar="METHOD")


def settings_changes(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    """The settings fields the options change, merged onto the current maps."""
    changes: dict[str, Any] = {}
    for name in (
        "small_business",
        "auto_sync_customers",
        "auto_sync_products",
        "default_tax_type",
        "delivery_date_in_head_text",
    ):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.small_business_until is not None:
        changes["small_business_until"] = args.small_business_until
    if args.contact_person is not None:
        changes["contact_person_id"] = args.contact_person
    if args.voucher_due_days is not None:
        changes["voucher_due_days"] = args.voucher_due_days
    if args.cost_centre is not None:
        changes["cost_centre_id"] = args.cost_centre
    if args.no_cost_centre:
        changes["cost_centre_id"] = None
    for field, additions, removals in (
        ("units", args.unit, []),
        ("booking_accounts", args.booking_account, args.remove_booking_account),
        ("check_accounts", args.check_account, args.remove_check_account),
    ):
        if additions or removals:
            mapping = dict(current.get(field) or {})
            mapping.update(dict(additions))
            for key in removals:
                if key not in mapping:
                    raise CliError(f"{field.replace('_', ' ')} has no entry {key!r} to remove")
                del mapping[key]
            changes[field] = mapping
    return changes


# --- commands ------------------------------------------------------------------------------------


async def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .store.migrations import create_database_if_missing, migrate

    url = settings.database_url.get_secret_value()
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
    from .app import run_worker

    await run_worker(settings)
    return 0


async def _cmd_tenant_connect(args: argparse.Namespace, settings: Settings) -> int:
    from .sevdesk.client import ApiToken, RetryPolicy, SevdeskClient
    from .skipped import refusal, waiting_count
    from .tenants.service import connect_tenant, resume_parked

    raw = sys.stdin.readline()
    try:
        token = ApiToken(raw)
    except ValueError as exc:
        raise CliError(f"no usable token on stdin: {exc}") from None
    cipher = _cipher(settings)
    async with (
        _pool(settings) as pool,
        SevdeskClient(
            settings.sevdesk_base_url,
            timeout=settings.sevdesk_timeout,
            retry=RetryPolicy(attempts=2, budget_seconds=5),
        ) as client,
    ):
        record = await connect_tenant(pool, client, cipher, _tenant_id(args.tenant), token)
        resumed = await resume_parked(
            pool, settings.amqp_url.get_secret_value(), settings.queue, record.tenant_id
        )
        waiting = await waiting_count(pool, record.tenant_id)
    tenant = record.tenant_id
    print(f"tenant {tenant} connected to sevDesk" + (f"; resumed {resumed} parked events" if resumed else ""))
    if not record.enabled:
        print(f"not enabled yet: its events are skipped until `sevsync tenant settings {tenant} --enable`")
        print(
            f"skipped events are kept {settings.skipped_retention_days} days and can be sent once it "
            f"is enabled: sevsync skipped replay {tenant}"
        )
    if waiting:
        print(_skipped_hint(tenant, waiting, refusal(record)))
    return 0


async def _cmd_tenant_show(args: argparse.Namespace, settings: Settings) -> int:
    from .skipped import waiting_count
    from .store.tenants import TenantRepository
    from .tenants.service import describe_tenant

    async with _pool(settings) as pool:
        repo = TenantRepository(pool)
        record = await repo.get(args.tenant)
        if record is None:
            raise CliError(f"tenant {args.tenant} is not known")
        links, waiting = await repo.link_counts(args.tenant), await waiting_count(pool, args.tenant)
        print(json.dumps(describe_tenant(record, links, skipped_waiting=waiting), indent=2))
    return 0


async def _cmd_tenant_disconnect(args: argparse.Namespace, settings: Settings) -> int:
    from .tenants.service import disconnect_tenant

    async with _pool(settings) as pool:
        record = await disconnect_tenant(pool, args.tenant)
    print(f"tenant {record.tenant_id} disconnected; its links are kept")
    return 0


async def _cmd_tenant_settings(args: argparse.Namespace, settings: Settings) -> int:
    from .skipped import refusal, waiting_count
    from .store.tenants import TenantRepository
    from .tenants.service import TenantError, change_settings, describe_tenant

    async with _pool(settings) as pool:
        current = await TenantRepository(pool).get(args.tenant)
        if current is None:
            raise TenantError(
                f"tenant {args.tenant} is not known; connect it first with `sevsync tenant connect`"
            )
        changes = settings_changes(args, current.settings.model_dump())
        record = await change_settings(pool, args.tenant, changes, args.enabled)
        print(json.dumps(describe_tenant(record, {})["settings"] | {"enabled": record.enabled}, indent=2))
        waiting = await waiting_count(pool, record.tenant_id) if args.enabled else 0
    if waiting:
        # stderr: stdout stays the JSON a script reads.
        print(_skipped_hint(record.tenant_id, waiting, refusal(record)), file=sys.stderr)
    return 0


async def _cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from .tenants.keys import rotate_tokens

    cipher = _cipher(settings)
    async with _pool(settings) as pool:
        summary = await rotate_tokens(pool, cipher)
    print(f"re-encrypted {summary.rotated} token" + ("" if summary.rotated == 1 else "s"))
    if summary.undecryptable:
        raise CliError(
            "no key in SEVSYNC_SECRET_KEYS decrypts the stored token of tenant"
            + ("s " if len(summary.undecryptable) > 1 else " ")
            + ", ".join(summary.undecryptable)
            + "; left unchanged: keep the key they were stored with, or connect them again"
        )
    return 0


async def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    import aio_pika

    from sevsync_events.publisher import EventFileError, EventFilePublishFailed, publish_file, read_event_file

    from .broker.topology import queue_exists

    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        # The whole file first: a bad line publishes nothing, whatever the broker's state.
        read_event_file(args.file)
    except EventFileError as exc:
        raise CliError(f"{args.file}: {exc}; nothing was published") from None
    url = settings.amqp_url.get_secret_value()
    connection = await aio_pika.connect(url)
    try:
        # `mandatory` cannot see this case: another consumer's queue bound to the exchange takes the
        # events, so the broker routes them, while no sevsync worker would ever receive them.
        if not await queue_exists(connection, settings.queue):
            raise CliError(
                f"queue {settings.queue} does not exist on the broker, so no sevsync worker would "
                "receive these events; run `sevsync topology declare` (or start a worker) first; "
                "nothing was published"
            )
    finally:
        await connection.close()
    try:
        count = await publish_file(args.file, url, settings.exchange)
    except EventFilePublishFailed as exc:
        raise CliError(f"{args.file}: {exc}. {_republish_advice(exc)}") from None
    print(f"published {count} events to {settings.exchange}")
    return 0


def _republish_advice(failed: EventFilePublishFailed) -> str:
    """What publishing the file again does, for the one line that reports a stopped file."""
    from sevsync_events.publisher import EventNotRouted

    advice = (
        "Bind a queue for that routing key (e.g. `sevsync topology declare`), then publish the file again"
        if isinstance(failed.cause, EventNotRouted)
        else "Publish the file again once the broker takes it"
    )
    if failed.published or failed.uncertain:
        again = "the events published before it" + (" (and perhaps it)" if failed.uncertain else "")
        advice += (
            f": {again} go out once more, which is harmless, since a worker skips an event_id it has "
            "applied or skipped already as a duplicate"
        )
    return advice


async def _cmd_topology_declare(args: argparse.Namespace, settings: Settings) -> int:
    import aio_pika
    from aiormq.exceptions import ChannelPreconditionFailed

    from .broker.ladder import RetryLadder
    from .broker.topology import TopologyNames, declare, topology_plan
    from .sync.handlers import HANDLERS

    names = TopologyNames(settings.exchange, settings.queue, settings.out_exchange)
    ladder = RetryLadder(settings.queue, settings.retry_delays)
    # The routing keys a worker of this version binds: the event types it has a handler for.
    routing_keys = sorted(HANDLERS)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        try:
            await declare(channel, names, routing_keys, ladder)
        except ChannelPreconditionFailed as exc:
            raise CliError(
                f"the broker refused a declaration ({_one_line(exc)}): an object of that name exists "
                "with other settings; nothing of it was changed"
            ) from None
    finally:
        await connection.close()
    plan = topology_plan(names, routing_keys, ladder)
    print("\n".join(plan.describe()))
    print(
        f"declared {len(plan.exchanges)} exchanges, {len(plan.queues)} queues and "
        f"{plan.binding_count} bindings; those that existed already are unchanged"
    )
    return 0


def _page_size(text: str) -> int:
    value = _positive_int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 1 to 1000, got {value}")
    return value


async def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from .imports import ImportFailed, ImportProgress, InvalidRecord, run_import
    from .sevdesk.client import RetryPolicy, SevdeskClient

    tenant = _tenant_id(args.tenant)
    cipher = _cipher(settings)
    noun = "contact" if args.kind == "contacts" else "part"
    # A bar only for a person watching; a pipe or a log file gets nothing on stderr but errors.
    bar = tqdm(
        desc=f"{args.kind} of {tenant}",
        unit=" records",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )

    def progress(p: ImportProgress) -> None:
        if bar.disable:
            return
        bar.total = p.total
        bar.n = p.offset
        bar.set_postfix(imported=p.imported, skipped=p.skipped, invalid=p.invalid, refresh=False)
        bar.refresh()

    def invalid(record: InvalidRecord) -> None:
        # stdout, next to the summary: the operator fixes these in sevDesk; the next run offers them.
        tqdm.write(f"not imported: {noun} {record.sevdesk_id}: {record.reason}", file=sys.stdout)

    try:
        async with (
            _pool(settings) as pool,
            SevdeskClient(
                settings.sevdesk_base_url,
                timeout=settings.sevdesk_timeout,
                retry=RetryPolicy(
                    attempts=settings.sevdesk_retry_attempts, budget_seconds=settings.sevdesk_retry_budget
                ),
                user_agent=settings.user_agent,
            ) as client,
        ):
            summary = await run_import(
                pool,
                client,
                cipher,
                settings.amqp_url.get_secret_value(),
                settings.out_exchange,
                tenant,
                args.kind,
                page_size=args.page_size,
                progress=progress,
                on_invalid=invalid,
            )
    except ImportFailed as exc:
        raise CliError(str(exc)) from None
    finally:
        bar.close()
    plural = "" if summary.imported == 1 else "s"
    print(
        f"imported {summary.imported} {noun}{plural} for tenant {tenant} "
        f"({summary.skipped} already linked or imported, {summary.invalid} invalid)"
    )
    return 0


async def _cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from .sandbox.server import serve

    print(f"sevDesk sandbox on http://{args.host}:{args.port}/api/v1", flush=True)
    await serve(args.host, args.port, args.token)
    return 0


# --- dead letters ----------------------------------------------------------------------------------

DEAD_LIST_LIMIT = 50


def _add_dead_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    dead = commands.add_parser("dead", help="list, replay and purge dead letters")
    dead_cmds = dead.add_subparsers(
        dest="dead_command", required=True, metavar="ACTION", parser_class=_Parser
    )

    listing = dead_cmds.add_parser(
        "list",
        help="print dead letters, newest first (never their bodies unless asked)",
        description="Print dead letters, newest first: open ones only unless --include-replayed. "
        "Message bodies may hold personal data and are printed only with --show-body.",
    )
    _add_dead_filters(listing)
    listing.add_argument(
        "--limit",
        type=_at_least_one,
        default=DEAD_LIST_LIMIT,
        metavar="N",
        help=f"at most N rows [{DEAD_LIST_LIMIT}]",
    )
    listing.add_argument("--include-replayed", action="store_true", help="also those replayed already")
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.add_argument(
        "--show-body", action="store_true", help="also print the raw bodies; needs exactly one --event-id"
    )
    listing.set_defaults(run=_cmd_dead_list)

    replay = dead_cmds.add_parser(
        "replay",
        help="publish open dead letters again to sevsync's own work queue",
        description="Publish the open dead letters matching the filters, oldest first and unchanged, "
        "to sevsync's own work queue (never the CRM exchange), with a fresh retry ladder; each is "
        "marked replayed once the broker confirmed it. Without --tenant, --reason or --event-id "
        "it refuses unless --all is given. Events applied already are skipped by the worker as "
        "duplicates.",
    )
    _add_dead_filters(replay)
    replay.add_argument(
        "--limit", type=_at_least_one, metavar="N", help="at most N dead letters, oldest first"
    )
    replay.add_argument(
        "--all",
        action="store_true",
        help="required without --tenant, --reason or --event-id: replay every open dead letter",
    )
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed; change nothing")
    replay.set_defaults(run=_cmd_dead_replay)

    purge = dead_cmds.add_parser(
        "purge",
        help="delete dead letters older than a number of days (their bodies hold personal data)",
        description="Delete the dead letters that died more than DAYS days ago, open and replayed "
        "ones alike: retention is about the personal data in their bodies, which an open dead letter "
        "holds as much as a replayed one. Replay what is still needed first; deleted rows are gone.",
    )
    purge.add_argument(
        "--older-than",
        dest="older_than",
        type=_days,
        required=True,
        metavar="DAYS",
        help=f"only dead letters older than DAYS days (1 to {MAX_RETENTION_DAYS})",
    )
    purge.add_argument("--tenant", metavar="TENANT", help="only this tenant's dead letters")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.set_defaults(run=_cmd_dead_purge)


def _add_dead_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", metavar="TENANT", help="only this tenant's dead letters")
    p.add_argument("--reason", metavar="REASON", help="only this reason, e.g. sevdesk_rejected, malformed")
    p.add_argument(
        "--event-id",
        dest="event_ids",
        type=_uuid,
        action="append",
        default=[],
        metavar="ID",
        help="only this event (repeatable)",
    )


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an event id (a UUID), got {text!r}") from None


def _at_least_one(text: str) -> int:
    value = _positive_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


# A hundred years: the bound keeps `now() - DAYS` a valid timestamp.
MAX_RETENTION_DAYS = 36500


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= value <= MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_RETENTION_DAYS} days, got {value}")
    return value


def _dead_filter(args: argparse.Namespace, *, open_only: bool = True) -> DeadLetterFilter:
    from .store.dead_letters import DeadLetterFilter

    return DeadLetterFilter(
        tenant_id=_tenant_id(args.tenant) if args.tenant is not None else None,
        reason=args.reason,
        event_ids=tuple(dict.fromkeys(args.event_ids)),
        open_only=open_only,
    )


def _dead_letters(count: int) -> str:
    return f"{count} dead letter" + ("" if count == 1 else "s")


async def _cmd_dead_list(args: argparse.Namespace, settings: Settings) -> int:
    from .replay import body_text, describe, table
    from .store.dead_letters import list_dead_letters

    if args.show_body and len(set(args.event_ids)) != 1:
        raise CliError("--show-body needs exactly one --event-id (bodies may hold personal data)")
    filters = _dead_filter(args, open_only=not args.include_replayed)
    async with _pool(settings) as pool:
        rows = await list_dead_letters(pool, filters, limit=args.limit, with_body=args.show_body)
    if args.json:
        print(json.dumps([describe(row, with_body=args.show_body) for row in rows], indent=2))
    elif not rows:
        print("no dead letters match" if args.include_replayed else "no open dead letters match")
    elif args.show_body:
        header, *lines = table(rows)
        print(header)
        for line, row in zip(lines, rows, strict=True):
            print(line)
            print(body_text(row))
    else:
        print("\n".join(table(rows)))
    return 0


async def _cmd_dead_replay(args: argparse.Namespace, settings: Settings) -> int:
    from .replay import ReplayError, UnnarrowedReplay, preview, replay, require_narrowed, table

    filters = _dead_filter(args)
    try:
        require_narrowed(filters, everything=args.all)
    except UnnarrowedReplay:
        raise CliError(
            "replay needs --tenant, --reason or --event-id, or --all for every open dead letter"
        ) from None
    async with _pool(settings) as pool:
        if args.dry_run:
            rows = await preview(pool, filters, limit=args.limit, everything=args.all)
            if rows:
                print("\n".join(table(rows)))
            print(
                f"dry run: would replay {_dead_letters(len(rows))} to queue {settings.queue}; "
                "nothing was published"
            )
            return 0
        try:
            summary = await replay(
                pool,
                settings.amqp_url.get_secret_value(),
                settings.queue,
                filters,
                limit=args.limit,
                everything=args.all,
            )
        except ReplayError as exc:
            raise CliError(str(exc)) from None
    print(
        f"replayed {_dead_letters(summary.replayed)} to queue {settings.queue}"
        + (f"; {summary.still_open} matching still open" if summary.still_open else "")
    )
    return 0


async def _cmd_dead_purge(args: argparse.Namespace, settings: Settings) -> int:
    from .store.dead_letters import purge_dead_letters

    tenant = _tenant_id(args.tenant) if args.tenant is not None else None
    async with _pool(settings) as pool:
        count = await purge_dead_letters(
            pool, older_than_days=args.older_than, tenant_id=tenant, dry_run=args.dry_run
        )
    what = _dead_letters(count) + (f" of tenant {tenant}" if tenant else "")
    age = f"older than {args.older_than} day" + ("" if args.older_than == 1 else "s")
    if args.dry_run:
        print(f"dry run: would delete {what} {age}; nothing was deleted")
    else:
        print(f"deleted {what} {age}")
    return 0


# --- skipped events --------------------------------------------------------------------------------

# The skips that keep their body to be sent later (sync.gate.REPLAYABLE_SKIPS; a test keeps them
# equal). Spelt out here so that parsing arguments imports no database driver.
SKIP_REASONS = ("not_connected", "disabled", "auto_sync_off")
SKIPPED_LIST_LIMIT = 50


def _add_skipped_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    skipped = commands.add_parser(
        "skipped", help="list, send and purge events skipped while their tenant did not sync"
    )
    skipped_cmds = skipped.add_subparsers(
        dest="skipped_command", required=True, metavar="ACTION", parser_class=_Parser
    )
    reasons = ", ".join(SKIP_REASONS)
    listing = skipped_cmds.add_parser(
        "list",
        help="print the skipped events of a tenant waiting to be sent (never their bodies)",
        description="Print the events of TENANT that were skipped because the tenant did not sync "
        f"({reasons}) and wait to be sent: per entity the newest version of each kind of event, oldest "
        "skip first. Bodies (personal data) are never printed.",
    )
    listing.add_argument("tenant")
    listing.add_argument("--reason", choices=SKIP_REASONS, help="only events skipped for this reason")
    listing.add_argument(
        "--limit",
        type=_at_least_one,
        default=SKIPPED_LIST_LIMIT,
        metavar="N",
        help=f"at most N rows [{SKIPPED_LIST_LIMIT}]",
    )
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.set_defaults(run=_cmd_skipped_list)

    replay = skipped_cmds.add_parser(
        "replay",
        help="send a tenant's waiting skipped events to sevsync's own work queue",
        description="Send the events `sevsync skipped list` shows (per entity the newest version of each "
        "kind of event; older versions stay skipped) to sevsync's own work queue, where they run again "
        "past the inbox. Refused while the tenant would skip them again (not connected, not enabled, "
        "token refused); events of a kind the tenant's settings switch off are held back.",
    )
    replay.add_argument("tenant")
    replay.add_argument("--reason", choices=SKIP_REASONS, help="only events skipped for this reason")
    replay.set_defaults(run=_cmd_skipped_replay)

    purge = skipped_cmds.add_parser(
        "purge",
        help="delete kept bodies of skipped events older than a number of days",
        description="Delete the kept bodies of skipped events skipped more than DAYS days ago, waiting "
        "and replayed ones alike (they hold personal data); their outcome rows stay. The worker does "
        "this daily with SEVSYNC_SKIPPED_RETENTION_DAYS.",
    )
    purge.add_argument(
        "--older-than",
        dest="older_than",
        type=_days,
        required=True,
        metavar="DAYS",
        help=f"only those skipped more than DAYS days ago (1 to {MAX_RETENTION_DAYS})",
    )
    purge.add_argument("--tenant", metavar="TENANT", help="only this tenant's")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge.set_defaults(run=_cmd_skipped_purge)


def _skipped_events(count: int) -> str:
    return f"{count} skipped event" + ("" if count == 1 else "s")


def _flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")


def _skipped_fix(tenant: str, reason: str, held_back: Sequence[str] = ()) -> str:
    """The command that lets a tenant's skipped events through, for a refusal's reason."""
    if reason == "disabled":
        return f"sevsync tenant settings {tenant} --enable"
    if reason == "auto_sync_off":
        return f"sevsync tenant settings {tenant} " + " ".join(_flag(s) for s in sorted(held_back))
    return f"sevsync tenant connect {tenant}"


def _skipped_hint(tenant: str, count: int, refused: Any) -> str:
    """What `skipped list`, `tenant connect` and `tenant settings --enable` say about waiting events."""
    waiting = f"{_skipped_events(count)} of tenant {tenant} " + ("waits" if count == 1 else "wait")
    if refused is None:
        return f"{waiting} to be sent: sevsync skipped replay {tenant}"
    return (
        f"{waiting} to be sent once it syncs: {_skipped_fix(tenant, refused.reason)}, "
        f"then sevsync skipped replay {tenant}"
    )


async def _cmd_skipped_list(args: argparse.Namespace, settings: Settings) -> int:
    from .skipped import refusal, tenant_record
    from .store.skipped import count_waiting, list_waiting

    tenant = _tenant_id(args.tenant)
    async with _pool(settings) as pool:
        record = await tenant_record(pool, tenant)
        rows = await list_waiting(pool, tenant, reason=args.reason, limit=args.limit)
        total = await count_waiting(pool, tenant, reason=args.reason)
    if args.json:
        print(json.dumps([_skipped_view(row) for row in rows], indent=2))
        return 0
    if not rows:
        print(f"no skipped events of tenant {tenant} wait to be sent")
        return 0
    print("\n".join(_skipped_table(rows)))
    if total > len(rows):
        print(f"(the first {len(rows)} of {total}; --limit shows more)")
    print(_skipped_hint(tenant, total, refusal(record)))
    return 0


def _skipped_view(row: Any) -> dict[str, Any]:
    return {
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "entity_type": row.entity_type,
        "entity_id": row.entity_id,
        "version": row.version,
        "reason": row.reason,
        "skipped_at": row.skipped_at.isoformat(),
    }


def _skipped_table(rows: Sequence[Any]) -> list[str]:
    from .replay import printable_cell, utc_timestamp

    header = ["SKIPPED_AT", "REASON", "EVENT_TYPE", "ENTITY", "VERSION", "EVENT_ID"]
    cells = [
        [
            utc_timestamp(row.skipped_at),
            row.reason,
            row.event_type,
            f"{row.entity_type} {printable_cell(row.entity_id)}",
            str(row.version),
            str(row.event_id),
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]


async def _cmd_skipped_replay(args: argparse.Namespace, settings: Settings) -> int:
    from .skipped import SkippedReplayFailed, SkippedReplayRefused, replay_skipped

    tenant = _tenant_id(args.tenant)
    async with _pool(settings) as pool:
        try:
            summary = await replay_skipped(
                pool, settings.amqp_url.get_secret_value(), settings.queue, tenant, reason=args.reason
            )
        except SkippedReplayRefused as exc:
            raise CliError(f"{exc}: {_skipped_fix(tenant, exc.reason, exc.settings_off)}") from None
        except SkippedReplayFailed as exc:
            raise CliError(str(exc)) from None
    if summary.replayed:
        line = f"sent {_skipped_events(summary.replayed)} of tenant {tenant} to queue {settings.queue}"
    else:
        line = f"no skipped events of tenant {tenant} wait to be sent"
    if summary.held_back:
        count = sum(summary.held_back.values())
        settings_off = ", ".join(sorted(summary.held_back))
        line += (
            f"; held back {_skipped_events(count)} of a kind switched off ({settings_off}): "
            f"{_skipped_fix(tenant, 'auto_sync_off', list(summary.held_back))}, then run this again"
        )
    print(line)
    return 0


async def _cmd_skipped_purge(args: argparse.Namespace, settings: Settings) -> int:
    from .store.skipped import purge_skipped

    tenant = _tenant_id(args.tenant) if args.tenant is not None else None
    async with _pool(settings) as pool:
        count = await purge_skipped(
            pool, older_than_days=args.older_than, tenant_id=tenant, dry_run=args.dry_run
        )
    what = _skipped_events(count) + (f" of tenant {tenant}" if tenant else "")
    age = f"skipped more than {args.older_than} day" + ("" if args.older_than == 1 else "s") + " ago"
    if args.dry_run:
        print(f"dry run: would delete the kept bodies of {what} {age}; nothing was deleted")
    else:
        print(f"deleted the kept bodies of {what} {age}")
    return 0


# --- plumbing ------------------------------------------------------------------------------------


def _tenant_id(text: str) -> str:
    from .store.tenants import is_tenant_id

    if not is_tenant_id(text):
        raise CliError(f"tenant id {text!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return text


def _cipher(settings: Settings) -> Any:
    from .tenants.crypto import TokenCipher

    return TokenCipher(settings.secret_keys.get_secret_value() if settings.secret_keys else None)


class _pool:
    def __init__(self, settings: Settings) -> None:
        self._url = settings.database_url.get_secret_value()
        self._pool: Any = None

    async def __aenter__(self) -> Any:
        from .store.db import create_pool

        self._pool = await create_pool(self._url, min_size=1, max_size=4)
        return self._pool

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            await self._pool.close()


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SEVSYNC_" + str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise CliError(f"{name}: {first['msg']}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _run_loop(command: Coroutine[Any, Any, int]) -> int:
    """Run a command on uvloop where it exists: the worker spends less CPU per event on it than
    on the stock loop (sockets of Postgres, RabbitMQ and sevDesk; see README, Performance)."""
    try:
        import uvloop
    except ImportError:  # a platform uvloop does not support
        return asyncio.run(command)
    return uvloop.run(command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = args.run
    try:
        settings = _load_settings()
        configure_logging(settings.log_level)
        return _run_loop(run(args, settings))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Known failure modes carry a message made for operators; anything else is named by its type.
        print(f"sevsync: error: {_describe_failure(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def _describe_failure(exc: BaseException) -> str:
    import asyncpg

    from .tenants.crypto import SecretKeyError
    from .tenants.service import TenantError

    if isinstance(exc, CliError | TenantError | SecretKeyError):
        return _one_line(exc)
    if isinstance(exc, OSError | asyncpg.PostgresError | ConnectionError):
        return f"{type(exc).__name__}: {_one_line(exc)}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return f"{type(exc).__name__}: {_one_line(exc)}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
