"""`sevsync publish`: a JSON Lines file of CRM events onto the CRM exchange."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from .arguments import Commands
from .errors import CliError

if TYPE_CHECKING:
    from sevsync_events.publisher import EventFilePublishFailed


def add_commands(commands: Commands) -> None:
    publish = commands.add_parser(
        "publish",
        help="publish events from a JSON Lines file to the CRM exchange",
        description="FILE is JSON Lines: one inbound event per line, each a complete JSON object "
        "(event_id, event_type, tenant_id, occurred_at, version, data) on a line of its own; blank "
        "lines are skipped; not a JSON array. Every line is validated first: one bad line publishes "
        "nothing. Then the events go out in file order to the exchange SEVSYNC_EXCHANGE [crm.events] "
        "of the broker at SEVSYNC_AMQP_URL, routing key = the event's event_type, message id = its "
        "event_id, each confirmed by the broker and mandatory: an event no queue receives stops the "
        "file with an error naming its line, the exchange and the routing key, and how many events "
        "before it were published. Refused while sevsync's work queue SEVSYNC_QUEUE does not exist "
        "(see `sevsync topology declare`).",
    )
    publish.add_argument("file", type=Path, metavar="FILE", help="the JSON Lines file of events")
    publish.set_defaults(run=_cmd_publish)


async def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from sevsync_events.publisher import EventFileError, EventFilePublishFailed, publish_file, read_event_file

    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        # The whole file first: a bad line publishes nothing, whatever the broker's state.
        read_event_file(args.file)
    except EventFileError as exc:
        raise CliError(f"{args.file}: {exc}; nothing was published") from None
    url = settings.amqp_url.get_secret_value()
    await _require_work_queue(url, settings.queue)
    try:
        count = await publish_file(args.file, url, settings.exchange)
    except EventFilePublishFailed as exc:
        raise CliError(f"{args.file}: {exc}. {_republish_advice(exc)}") from None
    print(f"published {count} events to {settings.exchange}")
    return 0


async def _require_work_queue(url: str, queue: str) -> None:
    from sevsync_events.connection import connect as connect_amqp

    from ..broker.topology import queue_exists

    connection = await connect_amqp(url)
    try:
        # `mandatory` cannot see this case: another consumer's queue bound to the exchange takes the
        # events, so the broker routes them, while no sevsync worker would ever receive them.
        if not await queue_exists(connection, queue):
            raise CliError(
                f"queue {queue} does not exist on the broker, so no sevsync worker would "
                "receive these events; run `sevsync topology declare` (or start a worker) first; "
                "nothing was published"
            )
    finally:
        await connection.close()


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
