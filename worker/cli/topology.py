"""`sevsync topology declare`: the RabbitMQ objects a worker declares, without running one."""

from __future__ import annotations

import argparse

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
        "exchanges, the work queue bound to every event type sevsync handles, the retry-ladder queues "
        "of SEVSYNC_RETRY_DELAYS and the dead-letter exchange and queue. Lets a CRM publish before the "
        "first worker starts. Idempotent: objects that exist as declared stay as they are. Prints "
        "what it declared.",
    )
    declare_topology.set_defaults(run=_cmd_topology_declare)


async def _cmd_topology_declare(args: argparse.Namespace, settings: Settings) -> int:
    from aiormq.exceptions import ChannelPreconditionFailed

    from sevsync_events.connection import connect as connect_amqp

    from ..broker.ladder import RetryLadder
    from ..broker.topology import TopologyNames, declare, topology_plan
    from ..retry_schedule import RetrySchedule
    from ..sync.handlers import HANDLERS

    names = TopologyNames(settings.exchange, settings.queue, settings.out_exchange)
    ladder = RetryLadder(settings.queue, RetrySchedule(settings.retry_delays))
    # The routing keys a worker of this version binds: the event types it has a handler for.
    routing_keys = sorted(HANDLERS)
    connection = await connect_amqp(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        try:
            await declare(channel, names, routing_keys, ladder)
        except ChannelPreconditionFailed as exc:
            raise CliError(
                f"the broker refused a declaration ({one_line(exc)}): an object of that name exists "
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
