"""The retry schedule: how long an event waits after each transient failure, and which wait is next.

Pure arithmetic on the configured delays (SEVSYNC_RETRY_DELAYS), shared by the processor, which
decides the next step (a step of the "retry ladder"), and the retry relay (`broker/retry_relay.py`),
which holds each wait for its step's delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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
class RetrySchedule:
    delays: tuple[timedelta, ...]

    def next_step(self, retries_done: int, retry_after: float | None = None) -> int | None:
        """The step to wait on next, or None when the schedule is exhausted.

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
