"""How an admin API operation is declared: once, for both its route and its OpenAPI entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from .. import models
from ..services import AdminServices

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


# Parameters several resources take.
TENANT = Parameter("tenant", "path", {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, required=True)
LIMIT = Parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": models.MAX_LIST_LIMIT})
