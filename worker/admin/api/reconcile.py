"""Reconciliation on demand: start a run of a tenant in the worker (202), like an import."""

from __future__ import annotations

from aiohttp import web

from ...imports.runs import connected_tenant
from ...reconcile.results import KINDS
from ...reconcile.scheduler import Reconciler
from ...sync.throttle import Throttle
from ...tenants.service import TenantError, TenantNotFound
from .. import models
from ..services import AdminServices
from .http_io import body, json_answer, tenant_of
from .operation import TENANT, ApiError, Operation


def reconciler_of(services: AdminServices) -> Reconciler:
    """The worker's reconciler; an admin site without a worker writes to the outbox for its relay."""
    if services.reconciler is None:
        settings = services.settings
        # This process applies no events: the tenants' request rates are the reconciliation's own.
        paces = Throttle(
            concurrency=1,
            tenant_concurrency=1,
            tenant_requests_per_second=settings.tenant_requests_per_second,
        )
        services.reconciler = Reconciler(
            services.pool,
            services.client,
            services.cipher,
            None,
            sweep_every=settings.reconcile_sweep_every,
            pace_of=paces.pace,
        )
    return services.reconciler


async def start_reconcile(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    asked = await body(request, models.ReconcileRequest)
    try:
        # The run checks this too, but in the background: the caller should hear it now.
        await connected_tenant(services.pool, tenant)
    except TenantNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except TenantError as exc:  # known, but not syncing with sevDesk
        raise ApiError(409, str(exc)) from None
    kinds = [asked.kind] if asked.kind is not None else list(KINDS)
    if not reconciler_of(services).start(tenant, kinds):
        raise ApiError(409, f"a reconciliation of tenant {tenant} is running already")
    return json_answer(models.ReconcileStarted(tenant_id=tenant, kinds=kinds, running=True), status=202)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/tenants/{tenant}/reconcile",
        start_reconcile,
        "Reconcile the tenant now: tell the CRM what changed or was deleted in sevDesk "
        "(contact.changed, part.changed, document.status_changed, link.broken); a run that another "
        "replica holds is skipped",
        {202: models.ReconcileStarted, 404: models.ErrorBody, 409: models.ErrorBody, 422: models.ErrorBody},
        request=models.ReconcileRequest,
        parameters=(TENANT,),
    ),
)
