"""The retry ladder: broker-side delays for events whose failure is transient.

Each step is a durable queue whose messages expire after the step's delay and are then dead-lettered
through the default exchange straight into sevsync's own work queue, never through the CRM exchange
(other consumers bound there must not see a retry). No delivery is held while it waits. The number of
retries so far travels in the `x-sevsync-retries` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

RETRIES_HEADER = "x-sevsync-retries"
# How often the worker deferred a delivery because its tenant held its share of the process.
DEFERRALS_HEADER = "x-sevsync-deferrals"
# A delivery deferred again and again waits on this step at most (1 m with the default delays):
# long enough that a flooding tenant's backlog does not spin through the broker, short enough
# that it is not parked for an hour.
MAX_DEFER_STEP = 1


def delay_label(delay: timedelta) -> str:
    """`10s`, `1m`, `1h`, `1500ms`: stable, readable queue-name suffixes."""
    ms = round(delay.total_seconds() * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True)
class RetryLadder:
    queue: str
    delays: tuple[timedelta, ...]

    def queue_name(self, step: int) -> str:
        # Named by delay, so changing SEVSYNC_RETRY_DELAYS adds queues instead of clashing with old ones.
        return f"{self.queue}.retry.{delay_label(self.delays[step])}"

    def next_step(self, retries_done: int, retry_after: float | None = None) -> int | None:
        """The step to wait on next, or None when the ladder is exhausted.

        A `Retry-After` longer than the next step's delay skips ahead to the first step that is long
        enough (or the last one), spending the skipped steps.
        """
        if retries_done >= len(self.delays):
            return None
        step = retries_done
        if retry_after is not None:
            while step < len(self.delays) - 1 and self.delays[step].total_seconds() < retry_after:
                step += 1
        return step

    def defer_step(self, deferrals_done: int) -> int:
        """The step a deferred delivery waits on: the first, then the second for a repeat deferral."""
        return min(deferrals_done, MAX_DEFER_STEP, len(self.delays) - 1)

    def queue_arguments(self, step: int) -> dict[str, Any]:
        return {
            "x-message-ttl": round(self.delays[step].total_seconds() * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.queue,
        }


def retries_so_far(headers: Mapping[str, Any] | None) -> int:
    """Retries an event has had (0 for a first delivery or a header that is not a count)."""
    return _count(headers, RETRIES_HEADER)


def deferrals_so_far(headers: Mapping[str, Any] | None) -> int:
    """Deferrals a delivery has had (0 for a first delivery or a header that is not a count)."""
    return _count(headers, DEFERRALS_HEADER)


def _count(headers: Mapping[str, Any] | None, name: str) -> int:
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
