"""The worker's admission: per-tenant hold limit, tenant and process slots, and the burst index."""

from __future__ import annotations

import asyncio

from sevsync.sync.locks import KeyedLocks
from sevsync.sync.throttle import HELD_PER_SLOT, Throttle


async def test_a_tenant_holding_its_share_is_deferred_while_others_are_admitted() -> None:
    throttle = Throttle(concurrency=8, tenant_concurrency=2)
    async with (
        throttle.hold("busy") as first,
        throttle.hold("busy") as second,
        throttle.hold("busy") as third,
        throttle.hold("busy") as fourth,
    ):
        assert None not in (first, second, third, fourth)
        assert throttle.held("busy") == 2 * HELD_PER_SLOT
        async with throttle.hold("busy") as fifth, throttle.hold("calm") as other:
            assert fifth is None
            assert other is not None
            assert throttle.held("busy") == 2 * HELD_PER_SLOT
    assert throttle.held("busy") == 0
    async with throttle.hold("busy") as again:
        assert again is not None


async def test_a_tenant_runs_at_most_its_concurrency_and_the_process_at_most_its_own() -> None:
    throttle = Throttle(concurrency=3, tenant_concurrency=2)
    running: dict[str, int] = {"a": 0, "b": 0}
    peaks = {"a": 0, "b": 0, "all": 0}

    async def work(tenant: str) -> None:
        async with throttle.hold(tenant) as held:
            assert held is not None
            async with held.running():
                running[tenant] += 1
                peaks[tenant] = max(peaks[tenant], running[tenant])
                peaks["all"] = max(peaks["all"], sum(running.values()))
                await asyncio.sleep(0.01)
                running[tenant] -= 1

    await asyncio.gather(*(work(t) for t in "aaaabbbb"))
    assert peaks == {"a": 2, "b": 2, "all": 3}


async def test_without_a_rate_there_is_no_pace_and_with_one_it_is_the_tenants_own() -> None:
    unpaced = Throttle(concurrency=2, tenant_concurrency=1)
    async with unpaced.hold("a") as held:
        assert held is not None
        assert held.pace is None
    paced = Throttle(concurrency=2, tenant_concurrency=2, tenant_requests_per_second=0.5)
    async with paced.hold("a") as one, paced.hold("a") as two, paced.hold("b") as other:
        assert one is not None
        assert two is not None
        assert other is not None
        assert one.pace is two.pace
        assert one.pace is not other.pace
        # Below one request per second the bucket still holds one whole request.
        assert one.pace is not None
        assert one.pace.has_capacity()


async def test_the_lock_names_the_newest_version_of_the_same_group_waiting_behind() -> None:
    locks = KeyedLocks()
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("k", 1, "customer"):
            inside.set()
            await release.wait()

    async def waiter(version: int, group: str | None) -> None:
        async with locks.hold("k", version, group):
            pass

    holder = asyncio.create_task(first())
    await inside.wait()
    waiters = [
        asyncio.create_task(waiter(3, "customer")),
        asyncio.create_task(waiter(2, "customer")),
        asyncio.create_task(waiter(9, "other")),
    ]
    await asyncio.sleep(0)
    assert locks.newer_waiting("k", "customer", 1) == 3
    assert locks.newer_waiting("k", "customer", 3) is None
    assert locks.newer_waiting("k", None, 1) is None
    assert locks.newer_waiting("elsewhere", "customer", 1) is None
    release.set()
    await asyncio.gather(holder, *waiters)
    assert len(locks) == 0
