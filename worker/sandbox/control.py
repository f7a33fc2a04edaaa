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
``GET    /__sandbox__/company``                 the ``Authorization`` token's account's own company data
``POST   /__sandbox__/company``                 set fields (strings; null or blank clears) -> the data
``POST   /__sandbox__/transactions``            add a bank transaction (import), see below -> 201
``GET    /__sandbox__/attachments``             uploaded temp files and attached documents of the
                                                ``Authorization`` token's account, with counts
``POST   /__sandbox__/faults/release``          let every request held by a ``hold`` rule go on
``GET    /__sandbox__/clock``                   ``{"now", "frozen"}``: the time objects are stamped with
``POST   /__sandbox__/clock``                   ``{"now"?, "advance"?, "run"?}``, see below -> the same
``*      /__sandbox__/ui/...``                  a person in the sevDesk UI (see :mod:`sevsync.sandbox.ui`)

Settings body: ``{"tax_rounding"?: "per_rate" | "per_position", "small_business_guidance"?: bool,
"page_size"?: 1..1000, "refuse_equal_delivery_date"?: bool}`` (see ``Account``).

Clock body (:mod:`sevsync.sandbox.clock`): ``now`` sets the moment (Unix seconds or ISO 8601 with an
offset) and stops the clock there, ``advance`` moves it on by that many seconds, ``run: true`` lets
it run with real time again. ``now`` comes before ``advance``; ``run`` excludes both.

Company data (:mod:`sevsync.sandbox.company`): what sevDesk keeps on the SevClient and e-invoices need
(address, bank, contact, tax numbers). The API documents no read of it, so only these routes reach it.

Transaction body: ``{"amount", "paymtPurpose"?, "payeePayerName"?, "payeePayerAcctNo"?,
"valueDate"?, "entryDate"?, "checkAccount"?}``; dates as the API takes them (default: now),
``checkAccount`` an id (default: the default online account). As in the API, only online check
accounts take transactions; the answer is ``{"transaction": <as the API renders it>}``.

Answers are plain JSON; errors are ``{"error": "<message>"}`` with a 4xx status.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import attachments, company
from .banking import ONLINE, create_transaction
from .clock import Clock
from .errors import ApiError
from .store import DEFAULT_PAGE_SIZE, Account, berlin_iso
from .wire import api_token

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/__sandbox__"
SANDBOX_KEY: web.AppKey[Sandbox] = web.AppKey("sevsync_sandbox")

TAX_ROUNDINGS = frozenset({"per_rate", "per_position"})


def _one_of(*allowed: str) -> Any:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {sorted(allowed)}"

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _page_size(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= DEFAULT_PAGE_SIZE
    return None if ok else f"must be a whole number from 1 to {DEFAULT_PAGE_SIZE}"


# Account attributes the settings route reads and changes, each with its check (None = valid).
_SETTINGS: dict[str, Any] = {
    "tax_rounding": _one_of(*TAX_ROUNDINGS),
    "small_business_guidance": _boolean,
    "page_size": _page_size,
    "refuse_equal_delivery_date": _boolean,
}
_TRANSACTION_FIELDS = frozenset(
    {"amount", "paymtPurpose", "payeePayerName", "payeePayerAcctNo", "valueDate", "entryDate", "checkAccount"}
)

_FAULT_FIELDS = frozenset(
    {"kind", "method", "path", "times", "status", "seconds", "retry_after", "code", "message", "token"}
)

routes = web.RouteTableDef()


def fail(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def json_object(request: web.Request) -> dict[str, Any]:
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
    body = await json_object(request)
    token = body.get("token")
    version = body.get("bookkeeping_version", "2.0")
    if not isinstance(token, str) or not isinstance(version, str):
        return fail(400, "token and bookkeeping_version must be strings")
    try:
        account = sandbox.add_account(token, bookkeeping_version=version)
    except ValueError as exc:
        return fail(409 if "exists" in str(exc) else 400, str(exc))
    return web.json_response(
        {"id": account.id, "bookkeeping_version": account.bookkeeping_version}, status=201
    )


@routes.delete(f"{PREFIX}/accounts")
async def remove_account(request: web.Request) -> web.Response:
    try:
        request.app[SANDBOX_KEY].remove_account(api_token(request))
    except KeyError:
        return fail(404, "no account for the Authorization token")
    return web.json_response({"removed": True})


@routes.get(f"{PREFIX}/faults")
async def list_faults(request: web.Request) -> web.Response:
    faults = request.app[SANDBOX_KEY].faults
    return web.json_response({"faults": [rule.describe() for rule in faults.rules], "held": faults.held})


@routes.post(f"{PREFIX}/faults")
async def add_fault(request: web.Request) -> web.Response:
    faults = request.app[SANDBOX_KEY].faults
    body = await json_object(request)
    unknown = set(body) - _FAULT_FIELDS
    if unknown:
        return fail(400, f"unknown fault field(s): {', '.join(sorted(unknown))}")
    try:
        faults.add(**body)
    except (TypeError, ValueError) as exc:
        return fail(400, str(exc))
    return web.json_response({"faults": [rule.describe() for rule in faults.rules]}, status=201)


@routes.post(f"{PREFIX}/faults/release")
async def release_held(request: web.Request) -> web.Response:
    return web.json_response({"released": request.app[SANDBOX_KEY].faults.release()})


@routes.delete(f"{PREFIX}/faults")
async def clear_faults(request: web.Request) -> web.Response:
    request.app[SANDBOX_KEY].faults.clear()
    return web.json_response({"faults": []})


@routes.get(PREFIX + "/objects/{object_name}")
async def list_objects(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    account = sandbox.find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    try:
        objects = account.objects(request.match_info["object_name"])
    except KeyError:
        return fail(404, f"unknown object name {request.match_info['object_name']!r}")
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
            return fail(400, f"path is not a valid regular expression: {exc}")
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
    return {name: getattr(account, name) for name in _SETTINGS}


@routes.get(f"{PREFIX}/settings")
async def get_settings(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    return web.json_response(_settings(account))


@routes.post(f"{PREFIX}/settings")
async def change_settings(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    body = await json_object(request)
    unknown = set(body) - set(_SETTINGS)
    if unknown:
        return fail(400, f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name, value in body.items():
        if (problem := _SETTINGS[name](value)) is not None:
            return fail(400, f"{name} {problem}")
    for name, value in body.items():
        setattr(account, name, value)
    return web.json_response(_settings(account))


@routes.get(f"{PREFIX}/company")
async def get_company(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    return web.json_response(company.company_of(account))


@routes.post(f"{PREFIX}/company")
async def change_company(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    try:
        return web.json_response(company.change_company(account, await json_object(request)))
    except ValueError as exc:
        return fail(400, str(exc))


def _default_online_account(account: Account) -> int | None:
    online = [r for r in account.table("CheckAccount").values() if r.fields["type"] == ONLINE]
    online.sort(key=lambda r: r.fields.get("defaultAccount") != "1")  # the default account first
    return online[0].id if online else None


@routes.post(f"{PREFIX}/transactions")
async def add_transaction(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    body = await json_object(request)
    unknown = set(body) - _TRANSACTION_FIELDS
    if unknown:
        return fail(400, f"unknown transaction field(s): {', '.join(sorted(unknown))}")
    check_account = body.pop("checkAccount", None)
    if isinstance(check_account, dict):
        check_account = check_account.get("id")
    if check_account is None:
        check_account = _default_online_account(account)
    api_body = {
        "valueDate": int(account.clock.now().timestamp()),
        **body,
        "checkAccount": {"id": check_account, "objectName": "CheckAccount"},
        "status": 100,
    }
    try:
        record = create_transaction(account, api_body)
    except ApiError as exc:
        return fail(400, exc.message)
    return web.json_response({"transaction": record.render()}, status=201)


@routes.get(f"{PREFIX}/attachments")
async def list_attachments(request: web.Request) -> web.Response:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        return fail(401, "send the account's token in Authorization")
    return web.json_response(attachments.summary(account))


def _clock_state(clock: Clock) -> dict[str, Any]:
    return {"now": berlin_iso(clock.now()), "frozen": clock.frozen}


def _moment(value: Any) -> datetime:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)  # ValueError if malformed
        if moment.tzinfo is not None:
            return moment
    raise ValueError("now must be Unix seconds or ISO 8601 with an offset")


@routes.get(f"{PREFIX}/clock")
async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_state(request.app[SANDBOX_KEY].clock))


@routes.post(f"{PREFIX}/clock")
async def change_clock(request: web.Request) -> web.Response:
    clock = request.app[SANDBOX_KEY].clock
    body = await json_object(request)
    unknown = set(body) - {"now", "advance", "run"}
    if unknown:
        return fail(400, f"unknown clock field(s): {', '.join(sorted(unknown))}")
    advance = body.get("advance", 0)
    if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
        return fail(400, "advance must be a number of seconds, not negative")
    if body.get("run") is True:
        if "now" in body or "advance" in body:
            return fail(400, "run excludes now and advance")
        clock.run()
        return web.json_response(_clock_state(clock))
    try:
        moment = _moment(body["now"]) if "now" in body else None
    except (ValueError, OverflowError, OSError) as exc:
        return fail(400, f"now: {exc}")
    if moment is not None:
        clock.set(moment)
    if advance or "advance" in body:
        clock.advance(advance)
    return web.json_response(_clock_state(clock))
