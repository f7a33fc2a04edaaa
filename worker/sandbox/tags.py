"""Placeholder: filled in by the sandbox work of issue 4."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
