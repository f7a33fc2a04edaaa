"""What the admin API and the ops console work with, shared through the aiohttp application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from ..config import Settings
from ..reconcile.scheduler import Reconciler
from ..sevdesk.client import SevdeskClient
from ..tenants.crypto import TokenCipher
from .auth import AdminToken


@dataclass
class AdminServices:
    pool: asyncpg.Pool
    settings: Settings
    token: AdminToken
    client: SevdeskClient
    cipher: TokenCipher
    # Imports started through the API run inside the worker process; one per tenant and kind.
    imports: dict[tuple[str, str], asyncio.Task[object]] = field(default_factory=dict)
    # Reconciliation runs started through the API or the console (the worker's own, with its outbox).
    reconciler: Reconciler | None = None


ADMIN_SERVICES = web.AppKey("admin_services", AdminServices)


def services_of(request: web.Request) -> AdminServices:
    return request.app[ADMIN_SERVICES]
