"""The names `make demo` uses on the servers, and the broker objects it removes again when it ends.

The demo's worker declares the whole topology a worker declares (exchanges, work and dead-letter
queues); the demo deletes exactly those, computed from the same plan, so that a broker it
visited looks as before, whether the demo finished or failed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .broker.topology import TopologyNames, TopologyPlan, topology_plan

# Tests run demos side by side under names of their own; people run it as `demo`.
NAME_VARIABLE = "SEVSYNC_DEMO_NAME"
DEFAULT_NAME = "demo"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class DemoNames:
    name: str

    @classmethod
    def from_environment(cls) -> DemoNames:
        name = os.environ.get(NAME_VARIABLE, DEFAULT_NAME)
        if not _NAME.fullmatch(name):
            raise SystemExit(f"demo: {NAME_VARIABLE} must be 1-40 of a-z 0-9 _, starting with a letter")
        return cls(name)

    @property
    def database(self) -> str:
        return f"sevsync_{self.name}"

    @property
    def topology(self) -> TopologyNames:
        return TopologyNames(
            exchange=f"{self.name}.crm.events",
            queue=f"{self.name}.sevdesk-sync",
            out_exchange=f"{self.name}.sevsync.out",
        )

    def environment(self) -> dict[str, str]:
        """The settings that point the demo's commands at its own broker objects."""
        names = self.topology
        return {
            "SEVSYNC_EXCHANGE": names.exchange,
            "SEVSYNC_QUEUE": names.queue,
            "SEVSYNC_OUT_EXCHANGE": names.out_exchange,
        }

    def broker_objects(self) -> TopologyPlan:
        return topology_plan(self.topology, ())


async def remove_broker_objects(amqp_url: str, names: DemoNames) -> None:
    """Delete the demo's queues and exchanges (those that do not exist are no error)."""
    from sevsync_events.connection import connect as connect_amqp

    plan = names.broker_objects()
    connection = await connect_amqp(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in plan.queues:
            await channel.queue_delete(queue.name)
        for exchange in plan.exchanges:
            await channel.exchange_delete(exchange.name)
