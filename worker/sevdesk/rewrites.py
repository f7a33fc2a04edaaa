"""Writing again after sevDesk answered a write 500 or 503 (CONTRACT section 8).

Such an answer ends the request on sevDesk's side. Once the caller has looked for the write's
effect and found none, nothing of it is left in flight, so the write may be sent again at once:
within the same budget the client gives its own retries (attempts, seconds, exponential back-off, a
`Retry-After` honoured). The client cannot do this itself, since only the caller knows how to look.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from .client import BACKOFF_INITIAL_SECONDS, BACKOFF_MAX_SECONDS, RetryPolicy
from .errors import AnsweredWriteError


def backoff_seconds(writes_so_far: int, jitter: float) -> float:
    """The pause after the n-th failed write: 0.5 s, 1 s, 2 s, ... 8 s, plus `jitter` (0..1) of 0.5 s."""
    exponential = min(BACKOFF_INITIAL_SECONDS * 2.0 ** (writes_so_far - 1), BACKOFF_MAX_SECONDS)
    return exponential + jitter * BACKOFF_INITIAL_SECONDS


class RewriteBudget:
    """How often, and for how long, one write answered 500/503 may be sent again in this attempt.

    Create it just before the first write; the clock starts then.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._started = clock()
        self._writes = 1

    @property
    def writes(self) -> int:
        """How many times the write has been sent so far."""
        return self._writes

    async def another_write(self, failure: AnsweredWriteError) -> bool:
        """Wait before writing again and answer True, or answer False at once when the budget is spent.

        A pause that would end past the budget spends it, as in the client's own retries.
        """
        if self._writes >= self._policy.attempts:
            return False
        if failure.retry_after is not None:
            pause = failure.retry_after
        else:
            pause = backoff_seconds(self._writes, self._jitter())
        if self._clock() - self._started + pause > self._policy.budget_seconds:
            return False
        await self._sleep(pause)
        self._writes += 1
        return True
