"""Broken links (CONTRACT section 10): list a tenant's, relink or clear one (the CLI's `sevsync link`)."""

from __future__ import annotations

from aiohttp import web

from ...store.links import Link
from ...sync.broken_links import LINK_TYPES
from ...tenants.links import clear_link, describe_link, list_broken, relink
from ...tenants.service import TenantError
from .. import models
from ..services import AdminServices
from .http_io import body, json_answer, tenant_error, tenant_of
from .operation import TENANT, ApiError, Operation, Parameter


def _view(link: Link) -> models.LinkView:
    return models.LinkView.model_validate(describe_link(link))


def _link_key(request: web.Request) -> tuple[str, str]:
    entity_type, entity_id = request.match_info["entity_type"], request.match_info["entity_id"]
    if entity_type not in LINK_TYPES:
        raise ApiError(404, f"no link type {entity_type[:40]!r}: one of {', '.join(LINK_TYPES)}")
    return entity_type, entity_id


async def list_broken_links(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    try:
        found = await list_broken(services.pool, tenant)
    except TenantError as exc:
        raise tenant_error(exc) from None
    return json_answer(models.BrokenLinkList(tenant_id=tenant, broken_links=[_view(link) for link in found]))


async def clear(request: web.Request, services: AdminServices) -> web.Response:
    tenant, (entity_type, entity_id) = tenant_of(request), _link_key(request)
    try:
        cleared = await clear_link(services.pool, tenant, entity_type, entity_id)
    except TenantError as exc:
        raise tenant_error(exc) from None
    return json_answer(models.ClearResult(cleared=_view(cleared)))


async def relink_link(request: web.Request, services: AdminServices) -> web.Response:
    tenant, key = tenant_of(request), _link_key(request)
    wanted = await body(request, models.RelinkRequest)
    try:
        link = await relink(services.pool, services.client, services.cipher, tenant, key, wanted.sevdesk_id)
    except TenantError as exc:
        raise tenant_error(exc) from None
    return json_answer(_view(link))


_LINK = (
    TENANT,
    Parameter("entity_type", "path", {"type": "string", "enum": list(LINK_TYPES)}, required=True),
    Parameter("entity_id", "path", {"type": "string"}, required=True),
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/tenants/{tenant}/links/broken",
        list_broken_links,
        "A tenant's links whose sevDesk object was found deleted, longest broken first",
        {200: models.BrokenLinkList, 404: models.ErrorBody},
        parameters=(TENANT,),
    ),
    Operation(
        "POST",
        "/tenants/{tenant}/links/{entity_type}/{entity_id}/clear",
        clear,
        "Remove a broken link (and its write intents): the entity's next event creates anew",
        {200: models.ClearResult, 404: models.ErrorBody, 409: models.ErrorBody},
        parameters=_LINK,
    ),
    Operation(
        "POST",
        "/tenants/{tenant}/links/{entity_type}/{entity_id}/relink",
        relink_link,
        "Point a broken link at another existing sevDesk object of its kind (checked with one GET)",
        {
            200: models.LinkView,
            404: models.ErrorBody,
            409: models.ErrorBody,
            422: models.ErrorBody,
            503: models.ErrorBody,
        },
        request=models.RelinkRequest,
        parameters=_LINK,
    ),
)
