"""Dead letters: list them, and publish them again to sevsync's own queue."""

from __future__ import annotations

from aiohttp import web

from ...replay import (
    ReplayError,
    UnnarrowedReplay,
    UnreplayableDeadLetters,
    preview,
    replay,
    replayable_selection,
    require_narrowed,
)
from ...store.dead_letters import DeadLetter, DeadLetterFilter, list_dead_letters
from .. import models
from ..services import AdminServices
from .http_io import body, bool_query, checked_tenant, event_ids, int_query, json_answer
from .operation import LIMIT, TENANT, ApiError, Operation, Parameter

DEFAULT_DEAD_LIST_LIMIT = 50  # as `sevsync dead list`


def _dead_view(row: DeadLetter) -> models.DeadLetterView:
    return models.DeadLetterView.model_validate({k: v for k, v in row.__dict__.items() if k != "body"})


async def list_dead(request: web.Request, services: AdminServices) -> web.Response:
    tenant = request.query.get("tenant")
    filters = DeadLetterFilter(
        tenant_id=checked_tenant(tenant) if tenant is not None else None,
        reason=request.query.get("reason"),
        event_ids=event_ids(request.query.getall("event_id", [])),
        open_only=not bool_query(request, "include_replayed"),
    )
    limit = int_query(request, "limit", DEFAULT_DEAD_LIST_LIMIT, 1, models.MAX_LIST_LIMIT)
    rows = await list_dead_letters(services.pool, filters, limit=limit)
    return json_answer(models.DeadLetterList(dead_letters=[_dead_view(row) for row in rows]))


async def _replayable(services: AdminServices, filters: DeadLetterFilter) -> tuple[DeadLetterFilter, int]:
    """The selection without letters a replay cannot fix, and how many open ones it leaves out."""
    try:
        selection = await replayable_selection(services.pool, filters)
    except UnreplayableDeadLetters as exc:
        raise ApiError(409, str(exc)) from None
    # They stay open until purged; the answer says how many were left out.
    return selection.filters, selection.left_out


async def replay_dead(request: web.Request, services: AdminServices) -> web.Response:
    request_body = await body(request, models.ReplayRequest)
    filters = DeadLetterFilter(
        tenant_id=request_body.tenant,
        reason=request_body.reason,
        event_ids=tuple(dict.fromkeys(request_body.event_ids)),
    )
    try:
        require_narrowed(filters, everything=request_body.all)
    except UnnarrowedReplay:
        raise ApiError(
            422, "replay needs tenant, reason or event_ids, or all=true for every open dead letter"
        ) from None
    filters, left_out = await _replayable(services, filters)
    if request_body.dry_run:
        rows = await preview(services.pool, filters, limit=request_body.limit, everything=request_body.all)
        return json_answer(
            models.ReplayResult(
                dry_run=True,
                replayed=0,
                would_replay=[_dead_view(r) for r in rows],
                unreplayable=left_out,
            )
        )
    settings = services.settings
    try:
        summary = await replay(
            services.pool,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            filters,
            limit=request_body.limit,
            everything=request_body.all,
        )
    except ReplayError as exc:
        raise ApiError(502, str(exc)) from None
    return json_answer(
        models.ReplayResult(
            dry_run=False,
            replayed=summary.replayed,
            still_open=summary.still_open,
            unreplayable=left_out,
        )
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/dead-letters",
        list_dead,
        "Dead letters, newest first; open ones unless include_replayed (never their bodies)",
        {200: models.DeadLetterList, 400: models.ErrorBody},
        parameters=(
            Parameter("tenant", "query", TENANT.schema),
            Parameter("reason", "query", {"type": "string"}),
            Parameter("event_id", "query", {"type": "array", "items": {"type": "string", "format": "uuid"}}),
            LIMIT,
            Parameter("include_replayed", "query", {"type": "boolean"}),
        ),
    ),
    Operation(
        "POST",
        "/dead-letters/replay",
        replay_dead,
        "Publish open dead letters again to sevsync's own queue, oldest first",
        {200: models.ReplayResult, 409: models.ErrorBody, 422: models.ErrorBody, 502: models.ErrorBody},
        request=models.ReplayRequest,
    ),
)
