"""`sevsync topology declare`: the RabbitMQ objects a worker declares, without running one;
`sevsync topology retire-ladder`: deletes the retry queues of earlier versions once empty."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import timedelta

from ..config import Settings
from .arguments import Commands, Parser
from .errors import CliError, one_line


def add_commands(commands: Commands) -> None:
    topology = commands.add_parser("topology", help="declare the RabbitMQ objects sevsync uses")
    topology_cmds = topology.add_subparsers(
        dest="topology_command", required=True, metavar="ACTION", parser_class=Parser
    )
    declare_topology = topology_cmds.add_parser(
        "declare",
        help="declare exchanges, queues and bindings as a worker would, without running one",
        description="Declare everything a worker declares at start-up: the inbound and outbound "
        "exchanges, the work queue bound to every event type sevsync handles, and the dead-letter "
        "exchange and queue (retries wait in Postgres, not in queues). Lets a CRM publish before the "
        "first worker starts. Idempotent: objects that exist as declared stay as they are. Prints "
        "what it declared, and the retry queues of earlier versions that are still there.",
    )
    declare_topology.set_defaults(run=_cmd_topology_declare)
    retire = topology_cmds.add_parser(
        "retire-ladder",
        help="delete the retry queues of earlier versions that are empty",
        description="Earlier versions kept waiting retries in queues <queue>.retry.<delay>; they now "
        "wait in Postgres. The old queues still move each waiting message to the work queue when "
        "its delay ends; this deletes those that are empty "
        "(the broker checks that atomically) and names those still holding messages. Run it once no "
        "worker of an earlier version runs any more, and again until none is left. AMQP cannot list "
        "queues: the old queues looked for are those of SEVSYNC_RETRY_DELAYS, the default delays and "
        "--delays.",
    )
    retire.add_argument(
        "--delays",
        type=_delays,
        default=[],
        metavar="DELAYS",
        help="further delays an earlier SEVSYNC_RETRY_DELAYS had, e.g. 5s,30s",
    )
    retire.set_defaults(run=_cmd_topology_retire_ladder)


def _delays(text: str) -> list[timedelta]:
    from ..config import parse_durations

    try:
        return list(parse_durations(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _old_delays(settings: Settings, extra: Iterable[timedelta] = ()) -> list[timedelta]:
    """The delays whose old retry queues are looked for: configured, default, and `extra`."""
    from ..config import DEFAULT_RETRY_DELAYS

    return [*settings.retry_delays, *_delays(DEFAULT_RETRY_DELAYS), *extra]


async def _cmd_topology_declare(args: argparse.Namespace, settings: Settings) -> int:
    from aiormq.exceptions import ChannelPreconditionFailed

    from sevsync_events.connection import connect as connect_amqp

    from ..broker.classic_ladder import find_classic_ladder
    from ..broker.topology import TopologyNames, declare, topology_plan
    from ..sync.handlers import HANDLERS

    names = TopologyNames(settings.exchange, settings.queue, settings.out_exchange)
    # The routing keys a worker of this version binds: the event types it has a handler for.
    routing_keys = sorted(HANDLERS)
    connection = await connect_amqp(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        try:
            await declare(channel, names, routing_keys)
        except ChannelPreconditionFailed as exc:
            raise CliError(
                f"the broker refused a declaration ({one_line(exc)}): an object of that name exists "
                "with other settings; nothing of it was changed"
            ) from None
        leftovers = await find_classic_ladder(connection, settings.queue, _old_delays(settings))
    finally:
        await connection.close()
    plan = topology_plan(names, routing_keys)
    print("\n".join(plan.describe()))
    print(
        f"declared {len(plan.exchanges)} exchanges, {len(plan.queues)} queues and "
        f"{plan.binding_count} bindings; those that existed already are unchanged"
    )
    for old in leftovers:
        print(
            f"retry queue {old.name} of an earlier version is still there ({_messages(old.waiting)} "
            "waiting; they go to the work queue when their delay ends): "
            "`sevsync topology retire-ladder` deletes it once it is empty"
        )
    return 0


async def _cmd_topology_retire_ladder(args: argparse.Namespace, settings: Settings) -> int:
    from sevsync_events.connection import connect as connect_amqp

    from ..broker.classic_ladder import retire_classic_ladder

    delays = _old_delays(settings, args.delays)
    connection = await connect_amqp(settings.amqp_url.get_secret_value())
    try:
        deleted, kept = await retire_classic_ladder(connection, settings.queue, delays)
    finally:
        await connection.close()
    for name in deleted:
        print(f"deleted {name} (empty)")
    for old in kept:
        print(
            f"kept {old.name}: {_messages(old.waiting)} still waiting; they go to the work queue when "
            "their delay ends; run this again then"
        )
    if not deleted and not kept:
        print("no retry queue of an earlier version is left")
    return 0


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"
