"""The retry queues of earlier versions: classic TTL queues `<queue>.retry.<delay>`, found and retired.

Retries now wait in Postgres (`retry_relay.py`). The old queues need nothing to empty: each still
dead-letters its messages into the work queue when their TTL ends. Once empty they are deleted with
`if_empty`, which the broker checks atomically, so a message that arrives meanwhile keeps its queue.
Only `sevsync topology retire-ladder` deletes them: a worker of the earlier version still running
during an upgrade publishes its retries there.

AMQP cannot list queues, so the old names are those of the given delays (by default the
configured ones and the default ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from aio_pika.abc import AbstractConnection
from aiormq.exceptions import ChannelPreconditionFailed

from ..retry_schedule import delay_label
from .topology import queued_messages


@dataclass(frozen=True)
class ClassicLadderQueue:
    name: str
    waiting: int  # messages still to expire into the work queue


def classic_ladder_names(queue: str, delays: Iterable[timedelta]) -> list[str]:
    """The names earlier versions gave the ladder of these delays, each once, in order."""
    return list(dict.fromkeys(f"{queue}.retry.{delay_label(delay)}" for delay in delays))


async def find_classic_ladder(
    connection: AbstractConnection, queue: str, delays: Iterable[timedelta]
) -> list[ClassicLadderQueue]:
    """The old ladder queues the broker still has, with the messages each holds."""
    found = []
    for name in classic_ladder_names(queue, delays):
        waiting = await queued_messages(connection, name)
        if waiting is not None:
            found.append(ClassicLadderQueue(name, waiting))
    return found


async def retire_classic_ladder(
    connection: AbstractConnection, queue: str, delays: Iterable[timedelta]
) -> tuple[list[str], list[ClassicLadderQueue]]:
    """Delete the old ladder queues that are empty; returns those deleted and those still waiting."""
    deleted: list[str] = []
    kept: list[ClassicLadderQueue] = []
    for old in await find_classic_ladder(connection, queue, delays):
        if old.waiting == 0 and await _delete_if_empty(connection, old.name):
            deleted.append(old.name)
            continue
        # Not empty, or a message arrived since it was counted: counted again.
        waiting = old.waiting or await queued_messages(connection, old.name)
        if waiting is not None:
            kept.append(ClassicLadderQueue(old.name, waiting))
    return deleted, kept


async def _delete_if_empty(connection: AbstractConnection, name: str) -> bool:
    """Delete queue `name` if it holds no message; False if a message got there first."""
    channel = await connection.channel()
    try:
        await channel.queue_delete(name, if_empty=True)
        return True
    except ChannelPreconditionFailed:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
