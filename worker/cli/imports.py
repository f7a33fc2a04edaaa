"""`sevsync import`: offer the CRM the sevDesk contacts or parts it does not have yet."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .arguments import TENANT_HELP, Commands, non_negative_int, tenant_id
from .errors import CliError
from .progress import progress_bar
from .resources import cipher, pool

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..imports import ImportProgress, InvalidRecord


def add_commands(commands: Commands) -> None:
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
    imports.add_argument("tenant", help=TENANT_HELP)
    imports.add_argument("kind", choices=["contacts", "parts"], help="what to import")
    imports.add_argument(
        "--page-size",
        type=_page_size,
        default=100,
        metavar="N",
        help="records per sevDesk request, 1 to 1000 [100]",
    )
    imports.set_defaults(run=_cmd_import)


def _page_size(text: str) -> int:
    value = non_negative_int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 1 to 1000, got {value}")
    return value


async def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from ..imports import ImportFailed, run_import
    from ..sevdesk.factory import client_from_settings

    tenant = tenant_id(args.tenant)
    token_cipher = cipher(settings)
    noun = "contact" if args.kind == "contacts" else "part"
    bar = progress_bar(f"{args.kind} of {tenant}", " records")
    try:
        async with pool(settings) as db, client_from_settings(settings) as client:
            summary = await run_import(
                db,
                client,
                token_cipher,
                settings.amqp_url.get_secret_value(),
                settings.out_exchange,
                tenant,
                args.kind,
                page_size=args.page_size,
                progress=_showing_on(bar),
                on_invalid=_listing_invalid(noun),
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


def _showing_on(bar: tqdm[Any]) -> Callable[[ImportProgress], None]:
    def progress(p: ImportProgress) -> None:
        if bar.disable:
            return
        bar.total = p.total
        bar.n = p.offset
        bar.set_postfix(imported=p.imported, skipped=p.skipped, invalid=p.invalid, refresh=False)
        bar.refresh()

    return progress


def _listing_invalid(noun: str) -> Callable[[InvalidRecord], None]:
    def invalid(record: InvalidRecord) -> None:
        from tqdm import tqdm

        # stdout, next to the summary: the operator fixes these in sevDesk; the next run offers them.
        tqdm.write(f"not imported: {noun} {record.sevdesk_id}: {record.reason}", file=sys.stdout)

    return invalid
