"""Control routes under ``/__sandbox__`` - for tests, the demo and chaos runs only.

They let separate processes (docker compose, the chaos run) drive a running sandbox. They have no
authentication: never expose a sandbox beyond a test network.

``POST   /__sandbox__/accounts``                ``{"token", "bookkeeping_version"?}`` -> 201 ``{"id", ...}``
``DELETE /__sandbox__/accounts``                account of the ``Authorization`` token; later calls get 401
``GET    /__sandbox__/faults``                  the active rules
``POST   /__sandbox__/faults``                  same fields as ``FaultInjector.add`` -> 201; ``token``
                                                scopes the rule to one account
``DELETE /__sandbox__/faults``                  remove all rules
``GET    /__sandbox__/objects/{object_name}``   stored objects of the ``Authorization`` token's account
``GET    /__sandbox__/calls``                   call log; filters ``method``, ``path`` (regex), ``account_id``
``DELETE /__sandbox__/calls``                   clear the call log
``POST   /__sandbox__/reset``                   clear faults, calls and all accounts' objects (accounts stay)
``GET    /__sandbox__/settings``                emulation settings of the ``Authorization`` token's account
``POST   /__sandbox__/settings``                change them, see below -> the settings
``POST   /__sandbox__/transactions``            add a bank transaction (import), see below -> 201

Settings body: ``{"tax_rounding"?: "per_rate" | "per_position", "small_business_guidance"?: bool}``
(see ``Account``). Transaction body: ``{"amount", "paymtPurpose"?, "payeePayerName"?,
"payeePayerAcctNo"?, "valueDate"?, "entryDate"?, "checkAccount"?}``; dates as the API takes them
(default: now), ``checkAccount`` an id (default: the default online account). As in the API, only
online check accounts take transactions; the answer is ``{"transaction": <as the API renders it>}``.

Answers are plain JSON; errors are ``{"error": "<message>"}`` with a 4xx status.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .banking import ONLINE, create_transaction
from .errors import ApiError
from .store import Account
from .wire import api_token

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/__sandbox__"
SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sevsync_sandbox")

TAX_ROUNDINGS = frozenset({"per_rate", "per_position"})
_SETTINGS_FIELDS = frozenset({"tax_rounding", "small_business_guidance"})
_TRANSACTION_FIELDS = frozenset(
    {"amount", "paymtPurpose", "payeePayerName", "payeePayerAcctNo", "valueDate", "entryDate", "checkAccount"}
)

_FAULT_FIELDS = frozenset(
    {"kind", "method", "path", "times", "status", "seconds", "retry_after", "code", "message", "token"}
)

routes = web.RouteTableDef()


def _fail(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text='{"error": "body is not valid JSON"}', content_type="application/json"
        ) from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text='{"error": "body must be a JSON object"}', content_type="application/json"
        )
    return data


@routes.post(f"{PREFIX}/accounts")
async def add_account(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    body = await _json_object(request)
    token = body.get("token")
    version = body.get("bookkeeping_version", "2.0")
    if not isinstance(token, str) or not isinstance(version, str):
        return _fail(400, "token and bookkeeping_version must be strings")
    try:
        account = sandbox.add_account(token, bookkeeping_version=version)
    except ValueError as exc:
        return _fail(409 if "exists" in str(exc) else 400, str(exc))
    return web.json_response(
        {"id": account.id, "bookkeeping_version": account.bookkeeping_version}, status=201
    )


@routes.delete(f"{PREFIX}/accounts")
async def remove_account(request: web.Request) -> web.Response:
    try:
        request.app[SANDBOX_KEY].remove_account(api_token(request))
    except KeyError:
        return _fail(404, "no account for the Authorization token")
    return web.json_response({"removed": True})


@routes.get(f"{PREFIX}/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [rule.describe() for rule in request.app[SANDBOX_KEY].faults.rules]})


@routes.post(f"{PREFIX}/faults")
async def add_fault(request: web.Request) -> web.Response:
    faults = request.app[SANDBOX_KEY].faults
    body = await _json_object(request)
    unknown = set(body) - _FAULT_FIELDS
    if unknown:
        return _fail(400, f"unknown fault field(s): {', '.join(sorted(unknown))}")
    try:
        faults.add(**body)
    except (TypeError, ValueError) as exc:
        return _fail(400, str(exc))
    return web.json_response({"faults": [rule.describe() for rule in faults.rules]}, status=201)


@routes.delete(f"{PREFIX}/faults")
async def clear_faults(request: web.Request) -> web.Response:
    request.app[SANDBOX_KEY].faults.clear()
    return web.json_response({"faults": []})


@routes.get(PREFIX + "/objects/{object_name}")
async def list_objects(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    account = sandbox.find_account(api_token(request))
    if account is None:
        return _fail(401, "send the account's token in Authorization")
    try:
        objects = account.objects(request.match_info["object_name"])
    except KeyError:
        return _fail(404, f"unknown object name {request.match_info['object_name']!r}")
    return web.json_response({"objects": objects})


@routes.get(f"{PREFIX}/calls")
async def list_calls(request: web.Request) -> web.Response:
    calls = request.app[SANDBOX_KEY].calls
    method = request.query.get("method")
    if method:
        calls = [c for c in calls if c.method == method.upper()]
    if path := request.query.get("path"):
        try:
            pattern = re.compile(path)
        except re.error as exc:
            return _fail(400, f"path is not a valid regular expression: {exc}")
        calls = [c for c in calls if pattern.search(c.path)]
    if account_id := request.query.get("account_id"):
        calls = [c for c in calls if str(c.account_id) == account_id]
    counts: dict[str, int] = {}
    for call in calls:
        key = f"{call.method} {call.path}"
        counts[key] = counts.get(key, 0) + 1
    return web.json_response(
        {"total": len(calls), "counts": counts, "calls": [dataclasses.asdict(c) for c in calls]}
    )


@routes.delete(f"{PREFIX}/calls")
async def clear_calls(request: web.Request) -> web.Response:
    request.app[SANDBOX_KEY].calls.clear()
    return web.json_response({"total": 0})


@routes.post(f"{PREFIX}/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX_KEY].reset()
    return web.json_response({"reset": True})


def _settings(account: Account) -> dict[str, Any]:
    return {"tax_rounding": account.tax_rounding, "small_business_guidance": account.small_business_guidance}


@routes.get(f"{PREFIX}/settings")
async def get_settings(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return _fail(401, "send the account's token in Authorization")
    return web.json_response(_settings(account))


@routes.post(f"{PREFIX}/settings")
async def change_settings(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return _fail(401, "send the account's token in Authorization")
    body = await _json_object(request)
    unknown = set(body) - _SETTINGS_FIELDS
    if unknown:
        return _fail(400, f"unknown setting(s): {', '.join(sorted(unknown))}")
    rounding = body.get("tax_rounding", account.tax_rounding)
    guidance = body.get("small_business_guidance", account.small_business_guidance)
    if rounding not in TAX_ROUNDINGS:
        return _fail(400, f"tax_rounding must be one of {sorted(TAX_ROUNDINGS)}")
    if not isinstance(guidance, bool):
        return _fail(400, "small_business_guidance must be true or false")
    account.tax_rounding = rounding
    account.small_business_guidance = guidance
    return web.json_response(_settings(account))


def _default_online_account(account: Account) -> int | None:
    online = [r for r in account.table("CheckAccount").values() if r.fields["type"] == ONLINE]
    online.sort(key=lambda r: r.fields.get("defaultAccount") != "1")  # the default account first
    return online[0].id if online else None


@routes.post(f"{PREFIX}/transactions")
async def add_transaction(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return _fail(401, "send the account's token in Authorization")
    body = await _json_object(request)
    unknown = set(body) - _TRANSACTION_FIELDS
    if unknown:
        return _fail(400, f"unknown transaction field(s): {', '.join(sorted(unknown))}")
    check_account = body.pop("checkAccount", None)
    if isinstance(check_account, dict):
        check_account = check_account.get("id")
    if check_account is None:
        check_account = _default_online_account(account)
    api_body = {
        "valueDate": int(time.time()),
        **body,
        "checkAccount": {"id": check_account, "objectName": "CheckAccount"},
        "status": 100,
    }
    try:
        record = create_transaction(account, api_body)
    except ApiError as exc:
        return _fail(400, exc.message)
    return web.json_response({"transaction": record.render()}, status=201)
