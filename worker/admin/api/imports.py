"""Imports: start one in the background, and its progress."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ...imports import ImportKind, import_status, run_import
from ...imports.kinds import KINDS
from ...imports.runs import connected_tenant
from ...tenants.service import TenantError
from .. import models, queries
from ..services import AdminServices
from .http_io import json_answer, tenant_of
from .operation import TENANT, ApiError, Operation, Parameter

log = logging.getLogger(__name__)

_KIND = Parameter("kind", "path", {"type": "string", "enum": ["contacts", "parts"]}, required=True)


def _import_kind(request: web.Request) -> ImportKind:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ApiError(404, f"no import of {kind!r}: contacts or parts")
    return kind


async def _import_view(services: AdminServices, tenant: str, kind: ImportKind) -> models.ImportStatusView:
    task = services.imports.get((tenant, kind))
    error = None
    if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
        error = " ".join(str(task.exception()).split()) or type(task.exception()).__name__
    status = await import_status(services.pool, tenant, kind)
    fields = queries.as_json(status) if status is not None else {}
    # Running here, or in another process (which holds the run's lock).
    here = task is not None and not task.done()
    fields.update(tenant_id=tenant, kind=kind, running=here or bool(fields.get("running")), error=error)
    return models.ImportStatusView.model_validate(fields)


async def start_import(request: web.Request, services: AdminServices) -> web.Response:
    tenant, kind = tenant_of(request), _import_kind(request)
    if (await _import_view(services, tenant, kind)).running:
        raise ApiError(409, f"an import of {kind} for tenant {tenant} is running already")
    try:
        # run_import checks this too, but in the background: the caller should hear it now.
        await connected_tenant(services.pool, tenant)
    except TenantError as exc:
        raise ApiError(409, str(exc)) from None
    settings = services.settings

    async def run() -> object:
        try:
            return await run_import(
                services.pool,
                services.client,
                services.cipher,
                settings.amqp_url.get_secret_value(),
                settings.out_exchange,
                tenant,
                kind,
            )
        except Exception:
            log.exception("import of %s for tenant %s stopped", kind, tenant, extra={"tenant_id": tenant})
            raise

    services.imports[(tenant, kind)] = asyncio.create_task(run(), name=f"import-{tenant}-{kind}")
    return json_answer(await _import_view(services, tenant, kind), status=202)


async def import_state(request: web.Request, services: AdminServices) -> web.Response:
    return json_answer(await _import_view(services, tenant_of(request), _import_kind(request)))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/tenants/{tenant}/imports/{kind}",
        start_import,
        "Start importing sevDesk contacts or parts (published as contact.imported / part.imported)",
        {202: models.ImportStatusView, 404: models.ErrorBody, 409: models.ErrorBody},
        parameters=(TENANT, _KIND),
    ),
    Operation(
        "GET",
        "/tenants/{tenant}/imports/{kind}",
        import_state,
        "Progress of the tenant's import",
        {200: models.ImportStatusView, 404: models.ErrorBody},
        parameters=(TENANT, _KIND),
    ),
)
