"""Middlewares of the ``/api/v1`` part of the sandbox (control routes pass straight through).

Order, outermost first: record the call, authenticate, inject faults, turn errors into sevDesk
error bodies. Faults act only on authenticated requests, so a test's fault is never consumed by a
request that would have been refused anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import ApiError, authentication_required, error_response
from .faults import FAULT_KEY, LOST_ANSWER
from .store import Account, CallRecord
from .wire import ACCOUNT_KEY, api_path, api_token

logger = logging.getLogger(__name__)


def call_recorder(record: Callable[[CallRecord], None]) -> Middleware:
    """Record every API request (account id, never the token) with the status sent."""

    @web.middleware
    async def record_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = api_path(request)
        if path is None:
            return await handler(request)
        status: int | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            fault = request.get(FAULT_KEY)
            account = request.get(ACCOUNT_KEY)
            record(
                CallRecord(
                    account_id=account.id if account is not None else None,
                    method=request.method,
                    path=path,
                    query=dict(request.query),
                    status=None if fault == LOST_ANSWER else status,
                    fault=fault,
                )
            )

    return record_calls


def authenticator(lookup: Callable[[str], Account | None]) -> Middleware:
    """Resolve ``Authorization: <token>`` (raw token, no scheme) to an account, else answer 401."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if api_path(request) is None:
            return await handler(request)
        token = api_token(request)
        account = lookup(token) if token else None
        if account is None:
            return authentication_required().response()
        account.request_count += 1
        request[ACCOUNT_KEY] = account
        return await handler(request)

    return authenticate


@web.middleware
async def translate_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure under ``/api/v1`` with the sevDesk error body."""
    if api_path(request) is None:
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        # Unknown route (404) or method (405) still gets the sevDesk error shape.
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, exc.reason, headers=headers)
    except Exception:
        logger.exception("sandbox handler failed for %s %s", request.method, request.path)
        return error_response(500, "Internal error in the sevDesk sandbox")
