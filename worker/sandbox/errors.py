"""sevDesk-shaped error answers.

The real API answers errors as (measured shape)
``{"error": {"exceptionUUID", "message", "errorCode": 0, "code", "data": [], "responseCode"},
"objects": null}``, where ``code`` is a sevDesk error code such as 151 "not found", or null.
Handlers raise :class:`ApiError`; a middleware turns it into that body.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

# sevDesk's error code for "no object with this id" (answered with HTTP 404).
CODE_NOT_FOUND = 151


class ApiError(Exception):
    """An error the sandbox answers with the sevDesk error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.data = data

    def response(self) -> web.Response:
        return error_response(self.status, self.message, code=self.code, headers=self.headers, data=self.data)


def error_body(
    response_code: int, message: str, *, code: int | None = None, data: Any = None
) -> dict[str, Any]:
    """The JSON body of a sevDesk error; ``response_code`` is echoed as ``responseCode``.

    ``data`` is an empty list unless the error details something (e.g. code 830's missing fields).
    """
    return {
        "error": {
            "exceptionUUID": str(uuid.uuid4()),
            "message": message,
            "errorCode": 0,
            "code": code,
            "data": [] if data is None else data,
            "responseCode": response_code,
        },
        "objects": None,
    }


def error_response(
    status: int,
    message: str,
    *,
    code: int | None = None,
    headers: Mapping[str, str] | None = None,
    body_status: int | None = None,
    data: Any = None,
) -> web.Response:
    """An HTTP answer carrying the sevDesk error body.

    ``body_status`` differs from ``status`` only for errors delivered inside HTTP 200.
    """
    body = error_body(status if body_status is None else body_status, message, code=code, data=data)
    return web.json_response(body, status=status, headers=headers)


def not_found(object_name: str, object_id: int | str) -> ApiError:
    # Wording follows the measured message "No Model_CheckAccountTransaction with the id 1 was found".
    return ApiError(404, f"No Model_{object_name} with the id {object_id} was found", code=CODE_NOT_FOUND)


def invalid(message: str) -> ApiError:
    """A validation failure (HTTP 422, as sevDesk answers failed model validation)."""
    return ApiError(422, message)


def bad_request(message: str) -> ApiError:
    """A request the sandbox cannot even parse (HTTP 400)."""
    return ApiError(400, message)


def authentication_required() -> ApiError:
    return ApiError(401, "Authentication required")
