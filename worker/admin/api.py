"""The admin JSON API (placeholder until it lands)."""

from __future__ import annotations

from aiohttp import web


def api_routes() -> list[web.RouteDef]:
    return []
