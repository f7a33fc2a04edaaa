"""Per-tenant reference data from sevDesk (countries, users), cached because it rarely changes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from ..outcome_words import SEVDESK_REJECTED, UNKNOWN_COUNTRY
from ..sevdesk.api import SevdeskApi
from .result import SyncFailure

LOOKUP_TTL_SECONDS = 3600.0


@dataclass
class _Cached:
    value: dict[str, str]
    loaded_at: float


@dataclass
class TenantLookups:
    """Lookups of one tenant's sevDesk account. Ids can differ between accounts, so never share."""

    ttl_seconds: float = LOOKUP_TTL_SECONDS
    _countries: _Cached | None = None
    _default_user: tuple[str, float] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def country_id(self, api: SevdeskApi, iso_code: str) -> str:
        """sevDesk's StaticCountry id for an ISO 3166-1 alpha-2 code; fails closed when unknown."""
        countries = await self._country_map(api)
        country_id = countries.get(iso_code.lower())
        if country_id is None:
            raise SyncFailure(UNKNOWN_COUNTRY, f"sevDesk knows no country with the code {iso_code}")
        return country_id

    async def country_code(self, api: SevdeskApi, country_id: str) -> str | None:
        """The ISO code of a StaticCountry id, or None when sevDesk's list does not have it."""
        for code, known_id in (await self._country_map(api)).items():
            if known_id == country_id:
                return code.upper()
        return None

    async def default_user_id(self, api: SevdeskApi) -> str:
        """The account's first SevUser: the contact person on documents unless the tenant names one."""
        cached = self._default_user
        if cached is not None and time.monotonic() - cached[1] < self.ttl_seconds:
            return cached[0]
        users = await api.sev_users()
        if not users:
            raise SyncFailure(SEVDESK_REJECTED, "the sevDesk account has no user to name as contact person")
        user_id = str(min(users, key=lambda u: int(u["id"]))["id"])
        self._default_user = (user_id, time.monotonic())
        return user_id

    async def _country_map(self, api: SevdeskApi) -> dict[str, str]:
        cached = self._countries
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl_seconds:
            return cached.value
        async with self._lock:
            cached = self._countries
            if cached is not None and time.monotonic() - cached.loaded_at < self.ttl_seconds:
                return cached.value
            mapping: dict[str, str] = {}
            for country in await api.static_countries():
                code = str(country.get("code") or "").lower()
                if code and code not in mapping:
                    mapping[code] = str(country["id"])
            self._countries = _Cached(mapping, time.monotonic())
            return mapping


class LookupRegistry:
    """One `TenantLookups` per tenant, for the life of the worker process."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, TenantLookups] = {}

    def for_tenant(self, tenant_id: str) -> TenantLookups:
        lookups = self._by_tenant.get(tenant_id)
        if lookups is None:
            lookups = self._by_tenant[tenant_id] = TenantLookups()
        return lookups
