"""Tenants: list, show, connect (with a token test), disconnect, change settings, check the account."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from ...sevdesk.token import ApiToken
from ...store.skipped import count_waiting
from ...store.tenants import TenantRepository
from ...tenants.doctor import check_changes, run_doctor
from ...tenants.doctor_checks import CheckLine, has_failure
from ...tenants.service import (
    TenantError,
    change_settings,
    connect_tenant,
    describe_tenant,
    disconnect_tenant,
    resume_parked,
)
from .. import models, queries
from ..services import AdminServices
from .http_io import body, json_answer, tenant_error, tenant_of
from .operation import TENANT, ApiError, Operation


async def _tenant_view(services: AdminServices, tenant: str) -> models.TenantView:
    repo = TenantRepository(services.pool)
    record = await repo.get(tenant)
    if record is None:
        raise ApiError(404, f"tenant {tenant} is not known")
    links, waiting = await repo.link_counts(tenant), await count_waiting(services.pool, tenant)
    return models.TenantView.model_validate(describe_tenant(record, links, skipped_waiting=waiting))


async def list_tenants(request: web.Request, services: AdminServices) -> web.Response:
    health = await queries.tenant_health(services.pool)
    return json_answer(models.TenantList(tenants=health))


async def show_tenant(request: web.Request, services: AdminServices) -> web.Response:
    return json_answer(await _tenant_view(services, tenant_of(request)))


async def connect(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    request_body = await body(request, models.ConnectRequest)
    try:
        token = ApiToken(request_body.token.get_secret_value())
    except ValueError as exc:
        raise ApiError(422, f"token: {exc}") from None
    try:
        record = await connect_tenant(services.pool, services.client, services.cipher, tenant, token)
    except TenantError as exc:
        raise tenant_error(exc) from None
    settings = services.settings
    resumed = await resume_parked(
        services.pool, settings.amqp_url.get_secret_value(), settings.queue, record.tenant_id
    )
    return json_answer(
        models.ConnectResult(tenant=await _tenant_view(services, tenant), resumed_parked_events=resumed)
    )


async def disconnect(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    try:
        await disconnect_tenant(services.pool, tenant)
    except TenantError as exc:
        raise tenant_error(exc) from None
    return json_answer(await _tenant_view(services, tenant))


async def patch_settings(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    patch = await body(request, models.SettingsPatch)
    changes = patch.model_dump(exclude_unset=True)
    enabled = changes.pop("enabled", None)
    try:
        record = await change_settings(services.pool, tenant, changes, enabled)
    except TenantError as exc:
        raise tenant_error(exc) from None
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        raise ApiError(422, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    lines = await check_changes(record, services.client, services.cipher, changes)
    view = await _tenant_view(services, tenant)
    return json_answer(models.SettingsResult(**view.model_dump(), checks=_doctor_lines(lines)))


def _doctor_lines(lines: list[CheckLine]) -> list[models.DoctorLine]:
    return [models.DoctorLine.model_validate(line.as_json()) for line in lines]


async def doctor(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    try:
        lines = await run_doctor(services.pool, services.client, services.cipher, tenant)
    except TenantError as exc:
        raise tenant_error(exc) from None
    return json_answer(
        models.DoctorReport(tenant_id=tenant, failed=has_failure(lines), checks=_doctor_lines(lines))
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tenants", list_tenants, "Every tenant with its health", {200: models.TenantList}),
    Operation(
        "GET",
        "/tenants/{tenant}",
        show_tenant,
        "A tenant's connection and settings (never the token)",
        {200: models.TenantView, 404: models.ErrorBody},
        parameters=(TENANT,),
    ),
    Operation(
        "PUT",
        "/tenants/{tenant}/connection",
        connect,
        "Test a sevDesk API token and store it, encrypted, only if it works",
        {200: models.ConnectResult, 409: models.ErrorBody, 422: models.ErrorBody},
        request=models.ConnectRequest,
        parameters=(TENANT,),
    ),
    Operation(
        "DELETE",
        "/tenants/{tenant}/connection",
        disconnect,
        "Remove the token; links are kept",
        {200: models.TenantView, 404: models.ErrorBody},
        parameters=(TENANT,),
    ),
    Operation(
        "PATCH",
        "/tenants/{tenant}/settings",
        patch_settings,
        "Change a tenant's sync settings",
        {200: models.SettingsResult, 404: models.ErrorBody, 422: models.ErrorBody},
        request=models.SettingsPatch,
        parameters=(TENANT,),
    ),
    Operation(
        "GET",
        "/tenants/{tenant}/doctor",
        doctor,
        "Read-only checks of the tenant's sevDesk account against its settings, one line per check",
        {200: models.DoctorReport, 404: models.ErrorBody},
        parameters=(TENANT,),
    ),
)
