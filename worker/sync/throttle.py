"""How much work one worker process takes on: in total, per tenant, and per tenant per second.

Every event is admitted in three steps:

1. `hold(tenant)`: the delivery counts against its tenant while this process holds it. A tenant
   that already holds twice its concurrency gets no more: the delivery is deferred (back to the
   broker for a while), so that one slow or failing tenant cannot fill the prefetch window that
   all tenants share.
2. `TenantHold.running()`: a slot of the tenant's own (`tenant_concurrency`), then one of the
   process (`concurrency`). A tenant waiting for its own slot does not take one of the process.
3. `TenantHold.pace`: the tenant's optional request rate, taken by every sevDesk request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

# Deliveries a tenant may hold per slot of its own: one running, one waiting behind it.
HELD_PER_SLOT = 2


@dataclass
class _Tenant:
    slots: asyncio.Semaphore
    pace: AsyncLimiter | None
    held: int = 0


@dataclass
class TenantHold:
    """One admitted delivery of a tenant; release it exactly once (`Throttle.hold` does)."""

    _tenant: _Tenant = field(repr=False)
    _process_slots: asyncio.Semaphore = field(repr=False)

    @property
    def pace(self) -> AsyncLimiter | None:
        return self._tenant.pace

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._tenant.slots, self._process_slots:
            yield


class Throttle:
    def __init__(
        self, *, concurrency: int, tenant_concurrency: int, tenant_requests_per_second: float | None = None
    ) -> None:
        self._process_slots = asyncio.Semaphore(concurrency)
        self._tenant_concurrency = tenant_concurrency
        self._rate = tenant_requests_per_second
        # Kept for the life of the process: a tenant's request budget must survive its idle moments
        # (one small object per tenant that had events).
        self._tenants: dict[str, _Tenant] = {}

    def _tenant(self, tenant_id: str) -> _Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            pace = limiter_for(self._rate)
            tenant = self._tenants[tenant_id] = _Tenant(asyncio.Semaphore(self._tenant_concurrency), pace)
        return tenant

    @asynccontextmanager
    async def hold(self, tenant_id: str) -> AsyncIterator[TenantHold | None]:
        """Admit a delivery of `tenant_id` for the block, or yield None when it must be deferred."""
        tenant = self._tenant(tenant_id)
        if tenant.held >= self._tenant_concurrency * HELD_PER_SLOT:
            yield None
            return
        tenant.held += 1
        try:
            yield TenantHold(tenant, self._process_slots)
        finally:
            tenant.held -= 1

    def pace(self, tenant_id: str) -> AsyncLimiter | None:
        return self._tenant(tenant_id).pace

    def held(self, tenant_id: str) -> int:
        tenant = self._tenants.get(tenant_id)
        return tenant.held if tenant is not None else 0


def limiter_for(per_second: float | None) -> AsyncLimiter | None:
    """A leaky bucket of `per_second` requests (None: no limit); a burst of up to one second's worth
    goes through."""
    if per_second is None:
        return None
    if per_second >= 1:
        return AsyncLimiter(per_second, 1.0)
    # Below one request per second the bucket must still hold one whole request.
    return AsyncLimiter(1, 1 / per_second)
