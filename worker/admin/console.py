"""The ops console (placeholder until it lands)."""

from __future__ import annotations

from aiohttp import web


def console_routes() -> list[web.RouteDef]:
    return []
