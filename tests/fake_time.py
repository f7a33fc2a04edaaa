"""A clock that moves only when the code under test sleeps: waits are checked, never measured."""

from __future__ import annotations

import asyncio


class FakeTime:
    """Hand `clock` and `sleep` to the code under test; `sleeps` lists every wait it asked for."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still a point where other tasks run, as a real sleep is
