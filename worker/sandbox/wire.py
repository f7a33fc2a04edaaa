"""Request parsing and response building shared by the resource modules.

Input is lenient where the real API is (ids as int or string, amounts as numbers or decimal
strings, flags as bool/0/1) and output follows the real API's quirks (ids, amounts and flags
as strings, ``GET /X/{id}`` as a one-element list, creates as a bare object).

List answers page as the spec describes (``limit`` 1..1000, default 100, ``offset``, ``countAll=true``
adding ``total``), with one difference live accounts showed: an account's page size may be lower
than 1000 (``Account.page_size``, set through the control routes), and a larger ``limit`` is then
cut to it without a word, so a short page does not prove the end of a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from .errors import bad_request, invalid, not_found
from .store import Account, Record

API_PREFIX = "/api/v1"

ACCOUNT_KEY: web.RequestKey[Account] = web.RequestKey("sevsync_sandbox_account", Account)

DEFAULT_LIMIT = 100  # the real default is undocumented; clients should always send limit
MAX_LIMIT = 1000

# Keys a client may echo back from a read; they are never taken from a request body.
READ_ONLY_KEYS = frozenset(
    {"id", "objectName", "create", "update", "sevClient", "additionalInformation", "mapAll"}
)

Coercer = Callable[[str, Any], Any]


def api_path(request: web.Request) -> str | None:
    """The path after ``/api/v1`` (``/Contact/12``), or None outside the API."""
    path = request.path
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :] or "/"
    return None


def api_token(request: web.Request) -> str:
    """The request's API token: the raw ``Authorization`` header (no scheme), stripped."""
    return request.headers.get("Authorization", "").strip()


def account_of(request: web.Request) -> Account:
    return request[ACCOUNT_KEY]


def path_id(request: web.Request) -> int:
    # Routes only match digits, so this cannot fail for a routed request.
    return int(request.match_info["id"])


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request body as a dict: JSON, or form data with ``a[b]=c`` keys nested one level."""
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        body: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            if "[" in key and key.endswith("]"):
                outer, inner = key[:-1].split("[", 1)
                nested = body.setdefault(outer, {})
                if isinstance(nested, dict):
                    nested[inner] = text
            else:
                body[key] = text
        return body
    # body_exists, not can_read_body: a body read ahead (a held request, see faults) is still there.
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise bad_request("The request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object")
    return data


# --- field coercion: request value -> stored wire value -------------------------------------------


def text(name: str, value: Any) -> str | None:
    """Free text; numbers become their string form (sevDesk stores e.g. customerNumber as text)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise invalid(f"{name} must be a string")


def decimal_text(name: str, value: Any) -> str | None:
    """An amount as an exact decimal string without trailing zeros ("120.50" -> "120.5")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(f"{name} must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise invalid(f"{name} must be a number, got {value!r}") from exc
    if not number.is_finite():
        raise invalid(f"{name} must be a finite number")
    rendered = format(number.normalize(), "f")
    return "0" if rendered in ("-0", "0") else rendered


def integer_text(name: str, value: Any) -> str | None:
    """An integer rendered as a string (status values, day counts)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid(f"{name} must be an integer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return str(int(value))
    raise invalid(f"{name} must be an integer, got {value!r}")


# True == 1 and False == 0 in Python, so the sets cover the integers too.
_TRUE = {True, "1", "true", "True"}
_FALSE = {False, "0", "false", "False"}


def flag(name: str, value: Any) -> str | None:
    """A boolean rendered the sevDesk way, as "0" or "1"."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        if value in _TRUE:
            return "1"
        if value in _FALSE:
            return "0"
    raise invalid(f"{name} must be a boolean (true/false or 0/1)")


def parse_id(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    raise invalid(f"{name}[id] must be a positive integer, got {value!r}")


def parse_ref(name: str, value: Any, object_name: str) -> int:
    """The id of a ``{"id": ..., "objectName": ...}`` reference; ``objectName`` must match."""
    if not isinstance(value, Mapping) or "id" not in value or "objectName" not in value:
        # Same wording as the real API's message for a malformed reference.
        raise invalid(f"{name} expected array with 'id' and 'objectName'. {type(value).__name__} given")
    if value["objectName"] != object_name:
        raise invalid(f"{name}[objectName] must be '{object_name}', got {value['objectName']!r}")
    return parse_id(name, value["id"])


def coerce_fields(body: Mapping[str, Any], coercers: Mapping[str, Coercer]) -> dict[str, Any]:
    """Known fields coerced to their wire form; unknown fields kept as sent (the API stores or
    ignores them, and tests may want to see what a client sent); references are left to the
    caller, which must also check that they exist."""
    result: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY_KEYS:
            continue
        coercer = coercers.get(key)
        result[key] = coercer(key, value) if coercer else value
    return result


def require(body: Mapping[str, Any], object_name: str, names: Iterable[str]) -> None:
    missing = [name for name in names if body.get(name) in (None, "")]
    if missing:
        raise invalid(f"{object_name}: missing required field(s): {', '.join(missing)}")


def get_record(account: Account, object_name: str, object_id: int) -> Record:
    record = account.find(object_name, object_id)
    if record is None:
        raise not_found(object_name, object_id)
    return record


# --- query helpers ----------------------------------------------------------------------------------


def query_flag(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    return value.lower() in ("1", "true")


def _int_query(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise bad_request(f"{name} must be at least {low}{upper}")
    return value


# --- responses --------------------------------------------------------------------------------------


def ok(objects: Any, *, status: int = 200) -> web.Response:
    return web.json_response({"objects": objects}, status=status)


def created(record: Record) -> web.Response:
    """A single create answers 201 with the bare object (not a list)."""
    return ok(record.render(), status=201)


def one(item: dict[str, Any]) -> web.Response:
    """``GET /X/{id}`` answers a list with exactly one element."""
    return ok([item])


def deleted() -> web.Response:
    return ok([None])


def page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    """A list answer honouring ``limit`` (cut to the account's page size), ``offset`` and
    ``countAll=true`` (``total``, the number of matches before paging)."""
    limit = _int_query(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    account = request.get(ACCOUNT_KEY)
    if account is not None:
        # An account's own cap cuts a larger limit silently: a short page does not mean the end.
        limit = min(limit, account.page_size)
    offset = _int_query(request, "offset", 0, 0, None)
    body: dict[str, Any] = {"objects": items[offset : offset + limit]}
    if query_flag(request, "countAll"):
        body["total"] = len(items)
    return web.json_response(body)


def page_records(request: web.Request, records: Iterable[Record]) -> web.Response:
    return page(request, [record.render() for record in records])
