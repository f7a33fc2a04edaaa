"""What a handler reads from a request (its body, tenant and query parameters) and its JSON answer."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ...store.tenants import is_tenant_id
from ...tenants.links import LinkConflict, SevdeskUnavailable
from ...tenants.service import OtherProviderConnected, TenantError, TenantNotFound
from .operation import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def body(request: web.Request, model: type[ModelT]) -> ModelT:
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(422, f"{where}: {first['msg']}") from None


def checked_tenant(text: str) -> str:
    if not is_tenant_id(text):
        raise ApiError(400, "tenant id must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return text


def tenant_of(request: web.Request) -> str:
    return checked_tenant(request.match_info["tenant"])


def int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
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


def bool_query(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false, got {text!r}")
    return text in ("true", "1")


def event_ids(values: list[str]) -> tuple[UUID, ...]:
    try:
        return tuple(dict.fromkeys(UUID(value) for value in values))
    except ValueError:
        raise ApiError(400, "event_id must be a UUID") from None


def tenant_error(exc: TenantError) -> ApiError:
    if isinstance(exc, TenantNotFound):
        return ApiError(404, str(exc))
    if isinstance(exc, OtherProviderConnected | LinkConflict):
        return ApiError(409, str(exc))
    if isinstance(exc, SevdeskUnavailable):
        return ApiError(503, str(exc))
    return ApiError(422, str(exc))
