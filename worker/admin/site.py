"""The worker's web application: health endpoints always, the admin API and console with a token."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ..config import Settings
from ..sevdesk.client import SevdeskClient
from ..tenants.crypto import TokenCipher
from .api import api_routes
from .auth import AdminToken
from .console import console_routes
from .edge import refuse_unstorable
from .http import ReadinessCheck, health_routes
from .services import ADMIN_SERVICES, AdminServices


def worker_site(
    settings: Settings,
    readiness: ReadinessCheck,
    *,
    pool: asyncpg.Pool,
    client: SevdeskClient,
    cipher: TokenCipher,
) -> tuple[web.Application, AdminServices | None]:
    """The application and its admin services, None without SEVSYNC_ADMIN_TOKEN."""
    app = web.Application()
    app.add_routes(health_routes(readiness))
    if settings.admin_token is None:
        # Without a token there is no admin surface at all, not an open one.
        return app, None
    admin = app[ADMIN_SERVICES] = AdminServices(
        pool=pool,
        settings=settings,
        token=AdminToken(settings.admin_token.get_secret_value()),
        client=client,
        cipher=cipher,
    )
    app.add_routes(api_routes())
    app.add_routes(console_routes())
    app.middlewares.append(refuse_unstorable)
    return app, admin
