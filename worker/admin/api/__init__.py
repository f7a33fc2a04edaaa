"""The admin JSON API under `/api/v1`, behind `Authorization: Bearer <SEVSYNC_ADMIN_TOKEN>`.

It does what the CLI does, with the same rules: tenants (connect with a token test, settings, show,
disconnect), imports, dead letters (list; replay with the CLI's filters and limits) and one
entity's outcomes and links. Each resource's module declares its operations once; `OPERATIONS`
gathers them, and the routes and the OpenAPI document (`GET /api/v1/openapi.json`) are both made
from that table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..services import services_of
from . import dead_letters, entities, imports, links, reconcile, skipped, tenants
from .operation import ApiError, Operation

PREFIX = "/api/v1"

# In the order of the OpenAPI document's paths.
OPERATIONS: tuple[Operation, ...] = (
    tenants.OPERATIONS
    + imports.OPERATIONS
    + reconcile.OPERATIONS
    + skipped.OPERATIONS
    + entities.OPERATIONS
    + links.OPERATIONS
    + dead_letters.OPERATIONS
)


def _guarded(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        services = services_of(request)
        if not services.token.matches_header(request.headers.get("Authorization")):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="sevsync"'},
            )
        try:
            _known_query_only(request, operation)
            return await operation.handler(request, services)
        except ApiError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)

    return handle


def _known_query_only(request: web.Request, operation: Operation) -> None:
    """Refuse a query parameter the operation does not take: a typo must not be ignored silently."""
    known = {p.name for p in operation.parameters if p.where == "query"}
    unknown = next((name for name in request.query if name not in known), None)
    if unknown is not None:
        takes = f"; it takes {', '.join(sorted(known))}" if known else "; it takes none"
        raise ApiError(400, f"unknown query parameter {unknown[:60]!r}{takes}")


def api_routes() -> list[web.RouteDef]:
    from ..openapi import openapi_document

    async def openapi(_: web.Request) -> web.Response:
        # The description of the API holds no data, so tooling may read it without the token.
        return web.json_response(openapi_document(OPERATIONS, PREFIX))

    routes = [web.get(f"{PREFIX}/openapi.json", openapi)]
    routes += [web.route(op.method, PREFIX + op.path, _guarded(op)) for op in OPERATIONS]
    return routes
