"""Skipped events: those waiting to be sent for a tenant, and sending them."""

from __future__ import annotations

from aiohttp import web

from ...outcome_words import REPLAYABLE_SKIPS
from ...skipped import SkippedReplayFailed, SkippedReplayRefused, replay_skipped, tenant_record
from ...store.skipped import count_waiting, list_waiting
from ...tenants.service import TenantError
from .. import models
from ..services import AdminServices
from .http_io import body, int_query, json_answer, tenant_error, tenant_of
from .operation import LIMIT, TENANT, ApiError, Operation, Parameter

DEFAULT_SKIPPED_LIST_LIMIT = 50  # as `sevsync skipped list`


def _skip_reason_query(request: web.Request) -> str | None:
    reason = request.query.get("reason")
    if reason is not None and reason not in REPLAYABLE_SKIPS:
        raise ApiError(400, f"reason must be one of {', '.join(REPLAYABLE_SKIPS)}")
    return reason


async def list_skipped(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    reason = _skip_reason_query(request)
    limit = int_query(request, "limit", DEFAULT_SKIPPED_LIST_LIMIT, 1, models.MAX_LIST_LIMIT)
    try:
        await tenant_record(services.pool, tenant)
    except TenantError as exc:
        raise tenant_error(exc) from None
    rows = await list_waiting(services.pool, tenant, reason=reason, limit=limit)
    waiting = await count_waiting(services.pool, tenant, reason=reason)
    views = [models.SkippedEventView.model_validate(row, from_attributes=True) for row in rows]
    return json_answer(models.SkippedList(tenant_id=tenant, waiting=waiting, skipped=views))


async def replay_skipped_events(request: web.Request, services: AdminServices) -> web.Response:
    tenant = tenant_of(request)
    request_body = await body(request, models.SkippedReplayRequest)
    settings = services.settings
    try:
        summary = await replay_skipped(
            services.pool,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            tenant,
            reason=request_body.reason,
        )
    except TenantError as exc:
        raise tenant_error(exc) from None
    except SkippedReplayRefused as exc:
        raise ApiError(409, str(exc)) from None
    except SkippedReplayFailed as exc:
        raise ApiError(502, str(exc)) from None
    return json_answer(models.SkippedReplayResult(replayed=summary.replayed, held_back=summary.held_back))


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/tenants/{tenant}/skipped",
        list_skipped,
        "Events skipped while the tenant did not sync that wait to be sent (never their bodies)",
        {200: models.SkippedList, 400: models.ErrorBody, 404: models.ErrorBody},
        parameters=(
            TENANT,
            Parameter("reason", "query", {"type": "string", "enum": list(REPLAYABLE_SKIPS)}),
            LIMIT,
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
        parameters=(TENANT,),
    ),
)
