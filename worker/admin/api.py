"""The admin JSON API under `/api/v1`, behind `Authorization: Bearer <SEVSYNC_ADMIN_TOKEN>`.

It does what the CLI does, with the same rules: tenants (connect with a token test, settings, show,
disconnect), imports, dead letters (list; replay with the CLI's filters and limits) and one
entity's outcomes and links. Each operation is declared once in `OPERATIONS`; the routes and the
OpenAPI document (`GET /api/v1/openapi.json`) are both made from that table.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..imports import ImportKind, import_status, run_import
from ..imports.kinds import KINDS
from ..imports.runs import connected_tenant
from ..replay import ReplayError, UnnarrowedReplay, preview, replay, require_narrowed
from ..sevdesk.token import ApiToken
from ..skipped import SkippedReplayFailed, SkippedReplayRefused, replay_skipped, tenant_record
from ..store.dead_letters import DeadLetterFilter, list_dead_letters
from ..store.skipped import count_waiting, list_waiting
from ..store.tenants import TenantRepository, is_tenant_id
from ..tenants.service import (
    OtherProviderConnected,
    TenantError,
    TenantNotFound,
    change_settings,
    connect_tenant,
    describe_tenant,
    disconnect_tenant,
    resume_parked,
)
from . import models, queries
from .services import AdminServices, services_of

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
DEFAULT_DEAD_LIST_LIMIT = 50  # as `sevsync dead list`
DEFAULT_HISTORY_LIMIT = 100
DEFAULT_SKIPPED_LIST_LIMIT = 50  # as `sevsync skipped list`
SKIP_REASONS: tuple[str, ...] = typing.get_args(models.SkipReason)

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[web.Request, AdminServices], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than success: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # below PREFIX, aiohttp style: /tenants/{tenant}
    handler: Handler
    summary: str
    responses: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    parameters: tuple[Parameter, ...] = field(default=())


# --- helpers -------------------------------------------------------------------------------------


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def _body(request: web.Request, model: type[ModelT]) -> ModelT:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, f"{where}: {first['msg']}") from None


def _checked_tenant(text: str) -> str:
    if not is_tenant_id(text):
        raise ApiError(400, "tenant id must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return text


def _tenant(request: web.Request) -> str:
    return _checked_tenant(request.match_info["tenant"])


def _int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {text[:30]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be {low} to {high}, got {value}")
    return value


def _bool_query(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false, got {text!r}")
    return text in ("true", "1")


def _event_ids(values: list[str]) -> tuple[UUID, ...]:
    try:
        return tuple(dict.fromkeys(UUID(value) for value in values))
    except ValueError:
        raise ApiError(400, "event_id must be a UUID") from None


def _tenant_error(exc: TenantError) -> ApiError:
    if isinstance(exc, TenantNotFound):
        return ApiError(404, str(exc))
    if isinstance(exc, OtherProviderConnected):
        return ApiError(409, str(exc))
    return ApiError(422, str(exc))


async def _tenant_view(services: AdminServices, tenant: str) -> models.TenantView:
    repo = TenantRepository(services.pool)
    record = await repo.get(tenant)
    if record is None:
        raise ApiError(404, f"tenant {tenant} is not known")
    links, waiting = await repo.link_counts(tenant), await count_waiting(services.pool, tenant)
    return models.TenantView.model_validate(describe_tenant(record, links, skipped_waiting=waiting))


# --- tenants -------------------------------------------------------------------------------------


async def list_tenants(request: web.Request, services: AdminServices) -> web.Response:
    health = await queries.tenant_health(services.pool)
    return _json(models.TenantList(tenants=health))


async def show_tenant(request: web.Request, services: AdminServices) -> web.Response:
    return _json(await _tenant_view(services, _tenant(request)))


async def connect(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    body = await _body(request, models.ConnectRequest)
    try:
        token = ApiToken(body.token.get_secret_value())
    except ValueError as exc:
        raise ApiError(422, f"token: {exc}") from None
    try:
        record = await connect_tenant(services.pool, services.client, services.cipher, tenant, token)
    except TenantError as exc:
        raise _tenant_error(exc) from None
    settings = services.settings
    resumed = await resume_parked(
        services.pool, settings.amqp_url.get_secret_value(), settings.queue, record.tenant_id
    )
    return _json(
        models.ConnectResult(tenant=await _tenant_view(services, tenant), resumed_parked_events=resumed)
    )


async def disconnect(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    try:
        await disconnect_tenant(services.pool, tenant)
    except TenantError as exc:
        raise _tenant_error(exc) from None
    return _json(await _tenant_view(services, tenant))


async def patch_settings(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    patch = await _body(request, models.SettingsPatch)
    changes = patch.model_dump(exclude_unset=True)
    enabled = changes.pop("enabled", None)
    try:
        await change_settings(services.pool, tenant, changes, enabled)
    except TenantError as exc:
        raise _tenant_error(exc) from None
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        raise ApiError(422, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return _json(await _tenant_view(services, tenant))


# --- imports -------------------------------------------------------------------------------------


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
    tenant, kind = _tenant(request), _import_kind(request)
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
    return _json(await _import_view(services, tenant, kind), status=202)


async def import_state(request: web.Request, services: AdminServices) -> web.Response:
    return _json(await _import_view(services, _tenant(request), _import_kind(request)))


# --- dead letters --------------------------------------------------------------------------------


def _dead_view(row: Any) -> models.DeadLetterView:
    return models.DeadLetterView.model_validate({k: v for k, v in row.__dict__.items() if k != "body"})


async def list_dead(request: web.Request, services: AdminServices) -> web.Response:
    tenant = request.query.get("tenant")
    filters = DeadLetterFilter(
        tenant_id=_checked_tenant(tenant) if tenant is not None else None,
        reason=request.query.get("reason"),
        event_ids=_event_ids(request.query.getall("event_id", [])),
        open_only=not _bool_query(request, "include_replayed"),
    )
    limit = _int_query(request, "limit", DEFAULT_DEAD_LIST_LIMIT, 1, models.MAX_LIST_LIMIT)
    rows = await list_dead_letters(services.pool, filters, limit=limit)
    return _json(models.DeadLetterList(dead_letters=[_dead_view(row) for row in rows]))


async def replay_dead(request: web.Request, services: AdminServices) -> web.Response:
    body = await _body(request, models.ReplayRequest)
    filters = DeadLetterFilter(
        tenant_id=body.tenant, reason=body.reason, event_ids=tuple(dict.fromkeys(body.event_ids))
    )
    try:
        require_narrowed(filters, everything=body.all)
    except UnnarrowedReplay:
        raise ApiError(
            422, "replay needs tenant, reason or event_ids, or all=true for every open dead letter"
        ) from None
    if body.dry_run:
        rows = await preview(services.pool, filters, limit=body.limit, everything=body.all)
        return _json(
            models.ReplayResult(dry_run=True, replayed=0, would_replay=[_dead_view(r) for r in rows])
        )
    settings = services.settings
    try:
        summary = await replay(
            services.pool,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            filters,
            limit=body.limit,
            everything=body.all,
        )
    except ReplayError as exc:
        raise ApiError(502, str(exc)) from None
    return _json(models.ReplayResult(dry_run=False, replayed=summary.replayed, still_open=summary.still_open))


# --- skipped events -------------------------------------------------------------------------------


def _skip_reason_query(request: web.Request) -> str | None:
    reason = request.query.get("reason")
    if reason is not None and reason not in SKIP_REASONS:
        raise ApiError(400, f"reason must be one of {', '.join(SKIP_REASONS)}")
    return reason


async def list_skipped(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    reason = _skip_reason_query(request)
    limit = _int_query(request, "limit", DEFAULT_SKIPPED_LIST_LIMIT, 1, models.MAX_LIST_LIMIT)
    try:
        await tenant_record(services.pool, tenant)
    except TenantError as exc:
        raise _tenant_error(exc) from None
    rows = await list_waiting(services.pool, tenant, reason=reason, limit=limit)
    waiting = await count_waiting(services.pool, tenant, reason=reason)
    views = [models.SkippedEventView.model_validate(row, from_attributes=True) for row in rows]
    return _json(models.SkippedList(tenant_id=tenant, waiting=waiting, skipped=views))


async def replay_skipped_events(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    body = await _body(request, models.SkippedReplayRequest)
    settings = services.settings
    try:
        summary = await replay_skipped(
            services.pool, settings.amqp_url.get_secret_value(), settings.queue, tenant, reason=body.reason
        )
    except TenantError as exc:
        raise _tenant_error(exc) from None
    except SkippedReplayRefused as exc:
        raise ApiError(409, str(exc)) from None
    except SkippedReplayFailed as exc:
        raise ApiError(502, str(exc)) from None
    return _json(models.SkippedReplayResult(replayed=summary.replayed, held_back=summary.held_back))


# --- entities ------------------------------------------------------------------------------------


async def show_entity(request: web.Request, services: AdminServices) -> web.Response:
    tenant = _tenant(request)
    entity_type, entity_id = request.match_info["entity_type"], request.match_info["entity_id"]
    if entity_type not in queries.ENTITY_TYPES:
        raise ApiError(404, f"no entity type {entity_type!r}: one of {', '.join(queries.ENTITY_TYPES)}")
    limit = _int_query(request, "limit", DEFAULT_HISTORY_LIMIT, 1, models.MAX_LIST_LIMIT)
    assert limit is not None
    outcomes = await queries.entity_history(services.pool, tenant, entity_type, entity_id, limit=limit)
    links = await queries.entity_links(services.pool, tenant, entity_type, entity_id)
    if not outcomes and not links:
        raise ApiError(404, f"nothing recorded for {entity_type} {entity_id} of tenant {tenant}")
    current = next((o for o in outcomes if o.reason != "duplicate"), None)
    return _json(
        models.EntityView(
            tenant_id=tenant,
            entity_type=entity_type,
            entity_id=entity_id,
            current=current,
            outcomes=outcomes,
            links=links,
        )
    )


# --- the table -----------------------------------------------------------------------------------

_TENANT = Parameter("tenant", "path", {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, required=True)
_KIND = Parameter("kind", "path", {"type": "string", "enum": ["contacts", "parts"]}, required=True)
_ERRORS: dict[int, type[BaseModel] | None] = {401: models.ErrorBody}

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tenants", list_tenants, "Every tenant with its health", {200: models.TenantList}),
    Operation(
        "GET",
        "/tenants/{tenant}",
        show_tenant,
        "A tenant's connection and settings (never the token)",
        {200: models.TenantView, 404: models.ErrorBody},
        parameters=(_TENANT,),
    ),
    Operation(
        "PUT",
        "/tenants/{tenant}/connection",
        connect,
        "Test a sevDesk API token and store it, encrypted, only if it works",
        {200: models.ConnectResult, 409: models.ErrorBody, 422: models.ErrorBody},
        request=models.ConnectRequest,
        parameters=(_TENANT,),
    ),
    Operation(
        "DELETE",
        "/tenants/{tenant}/connection",
        disconnect,
        "Remove the token; links are kept",
        {200: models.TenantView, 404: models.ErrorBody},
        parameters=(_TENANT,),
    ),
    Operation(
        "PATCH",
        "/tenants/{tenant}/settings",
        patch_settings,
        "Change a tenant's sync settings",
        {200: models.TenantView, 404: models.ErrorBody, 422: models.ErrorBody},
        request=models.SettingsPatch,
        parameters=(_TENANT,),
    ),
    Operation(
        "POST",
        "/tenants/{tenant}/imports/{kind}",
        start_import,
        "Start importing sevDesk contacts or parts (published as contact.imported / part.imported)",
        {202: models.ImportStatusView, 404: models.ErrorBody, 409: models.ErrorBody},
        parameters=(_TENANT, _KIND),
    ),
    Operation(
        "GET",
        "/tenants/{tenant}/imports/{kind}",
        import_state,
        "Progress of the tenant's import",
        {200: models.ImportStatusView, 404: models.ErrorBody},
        parameters=(_TENANT, _KIND),
    ),
    Operation(
        "GET",
        "/tenants/{tenant}/skipped",
        list_skipped,
        "Events skipped while the tenant did not sync that wait to be sent (never their bodies)",
        {200: models.SkippedList, 400: models.ErrorBody, 404: models.ErrorBody},
        parameters=(
            _TENANT,
            Parameter("reason", "query", {"type": "string", "enum": list(SKIP_REASONS)}),
            Parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": models.MAX_LIST_LIMIT}),
        ),
    ),
    Operation(
        "POST",
        "/tenants/{tenant}/skipped/replay",
        replay_skipped_events,
        "Send the tenant's waiting skipped events (per entity the newest of each kind) to sevsync's queue",
        {
            200: models.SkippedReplayResult,
            404: models.ErrorBody,
            409: models.ErrorBody,
            422: models.ErrorBody,
            502: models.ErrorBody,
        },
        request=models.SkippedReplayRequest,
        parameters=(_TENANT,),
    ),
    Operation(
        "GET",
        "/tenants/{tenant}/entities/{entity_type}/{entity_id}",
        show_entity,
        "One CRM entity's outcomes (newest first) and its sevDesk links",
        {200: models.EntityView, 404: models.ErrorBody},
        parameters=(
            _TENANT,
            Parameter(
                "entity_type", "path", {"type": "string", "enum": list(queries.ENTITY_TYPES)}, required=True
            ),
            Parameter("entity_id", "path", {"type": "string"}, required=True),
            Parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": models.MAX_LIST_LIMIT}),
        ),
    ),
    Operation(
        "GET",
        "/dead-letters",
        list_dead,
        "Dead letters, newest first; open ones unless include_replayed (never their bodies)",
        {200: models.DeadLetterList, 400: models.ErrorBody},
        parameters=(
            Parameter("tenant", "query", _TENANT.schema),
            Parameter("reason", "query", {"type": "string"}),
            Parameter("event_id", "query", {"type": "array", "items": {"type": "string", "format": "uuid"}}),
            Parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": models.MAX_LIST_LIMIT}),
            Parameter("include_replayed", "query", {"type": "boolean"}),
        ),
    ),
    Operation(
        "POST",
        "/dead-letters/replay",
        replay_dead,
        "Publish open dead letters again to sevsync's own queue, oldest first",
        {200: models.ReplayResult, 422: models.ErrorBody, 502: models.ErrorBody},
        request=models.ReplayRequest,
    ),
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
    from .openapi import openapi_document

    async def openapi(_: web.Request) -> web.Response:
        # The description of the API holds no data, so tooling may read it without the token.
        return web.json_response(openapi_document(OPERATIONS, PREFIX))

    routes = [web.get(f"{PREFIX}/openapi.json", openapi)]
    routes += [web.route(op.method, PREFIX + op.path, _guarded(op)) for op in OPERATIONS]
    return routes
