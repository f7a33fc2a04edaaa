"""One CRM entity: its outcomes and its sevDesk links."""

from __future__ import annotations

from aiohttp import web

from .. import models, queries
from ..services import AdminServices
from .http_io import int_query, json_answer, tenant_of
from .operation import LIMIT, TENANT, ApiError, Operation, Parameter

DEFAULT_HISTORY_LIMIT = 100


async def show_entity(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    entity_type, entity_id = request.match_info["entity_type"], request.match_info["entity_id"]
    if entity_type not in queries.ENTITY_TYPES:
        raise ApiError(404, f"no entity type {entity_type!r}: one of {', '.join(queries.ENTITY_TYPES)}")
    limit = int_query(request, "limit", DEFAULT_HISTORY_LIMIT, 1, models.MAX_LIST_LIMIT)
    assert limit is not None
    outcomes = await queries.entity_history(services.pool, tenant, entity_type, entity_id, limit=limit)
    links = await queries.entity_links(services.pool, tenant, entity_type, entity_id)
    if not outcomes and not links:
        raise ApiError(404, f"nothing recorded for {entity_type} {entity_id} of tenant {tenant}")
    current = next((o for o in outcomes if o.reason != "duplicate"), None)
    return json_answer(
        models.EntityView(
            tenant_id=tenant,
            entity_type=entity_type,
            entity_id=entity_id,
            current=current,
            outcomes=outcomes,
            links=links,
        )
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/tenants/{tenant}/entities/{entity_type}/{entity_id}",
        show_entity,
        "One CRM entity's outcomes (newest first) and its sevDesk links",
        {200: models.EntityView, 404: models.ErrorBody},
        parameters=(
            TENANT,
            Parameter(
                "entity_type", "path", {"type": "string", "enum": list(queries.ENTITY_TYPES)}, required=True
            ),
            Parameter("entity_id", "path", {"type": "string"}, required=True),
            LIMIT,
        ),
    ),
)
