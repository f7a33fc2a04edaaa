"""Control routes under ``/__sandbox__/ui``: a person at work in the sevDesk UI (tests only).

They act on the ``Authorization`` token's account through :mod:`sevsync.sandbox.people`, past fault
rules and the call log, and answer ``{"object": <as the API renders it>}``:

``POST   /__sandbox__/ui/{object_name}``                  create a Contact, ContactAddress,
                                                          CommunicationWay or Part (API fields) -> 201
``PUT    /__sandbox__/ui/{object_name}/{id}``             edit fields (wire form)
``DELETE /__sandbox__/ui/{object_name}/{id}``             delete (with what belongs to it) -> ``{"deleted"}``
``POST   /__sandbox__/ui/Invoice/{id}/finalise``          ``{"sendType"?}`` (VPR): draft -> open (200)
``POST   /__sandbox__/ui/Invoice/{id}/cancel``            Storno -> 201, the cancellation invoice
``POST   /__sandbox__/ui/Order/{id}/accept``              an offer is accepted (500)
``POST   /__sandbox__/ui/Order/{id}/reject``              an offer is rejected (300)
``POST   /__sandbox__/ui/{Invoice|Voucher}/{id}/bookAmount``  ``bookAmount``'s fields, all optional
                                                          (see ``people.book_payment``) -> the document

A contact a person creates takes the next customer number of the sequence unless its body names one.
Errors are ``{"error": <message>}``: 401 without a known token, 404 for an unknown object, 400 for
a malformed request. A refusal by the API's own rules is a 400 (409 where the API answers 409)
carrying the API's ``code`` and ``data`` too (e.g. 830 and the missing e-invoice fields).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import people
from .control import PREFIX, SANDBOX_KEY, fail, json_object
from .errors import ApiError
from .store import Account, Record
from .wire import api_token

routes = web.RouteTableDef()

UI = f"{PREFIX}/ui"


def _person_account(request: web.Request) -> Account:
    account = request.app[SANDBOX_KEY].find_account(api_token(request))
    if account is None:
        raise web.HTTPUnauthorized(
            text='{"error": "send the account\'s token in Authorization"}', content_type="application/json"
        )
    return account


def _object_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "the id must be a whole number"}', content_type="application/json"
        ) from None


def _refused(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"error": exc.message, "code": exc.code}
    if exc.data is not None:
        body["data"] = exc.data
    return web.json_response(body, status=409 if exc.status == 409 else 400)


async def _act(
    request: web.Request, action: Callable[[Account], Record], *, status: int = 200
) -> web.Response:
    """Run a person's action and answer the object it leaves (or the error it met)."""
    account = _person_account(request)
    try:
        record = action(account)
    except people.UnknownObject as exc:
        return fail(404, str(exc))
    except ApiError as exc:
        return _refused(exc)
    except ValueError as exc:
        return fail(400, str(exc))
    return web.json_response({"object": record.render()}, status=status)


@routes.post(UI + "/{object_name}")
async def person_creates(request: web.Request) -> web.Response:
    name, fields = request.match_info["object_name"], await json_object(request)
    return await _act(request, lambda account: people.create(account, name, fields), status=201)


@routes.put(UI + "/{object_name}/{id}")
async def person_edits(request: web.Request) -> web.Response:
    name, object_id, changes = (
        request.match_info["object_name"],
        _object_id(request),
        await json_object(request),
    )
    return await _act(request, lambda account: people.edit(account, name, object_id, changes))


@routes.delete(UI + "/{object_name}/{id}")
async def person_deletes(request: web.Request) -> web.Response:
    account = _person_account(request)
    try:
        people.delete(account, request.match_info["object_name"], _object_id(request))
    except people.UnknownObject as exc:
        return fail(404, str(exc))
    except ApiError as exc:
        return _refused(exc)
    return web.json_response({"deleted": True})


@routes.post(UI + "/Invoice/{id}/finalise")
async def person_finalises_invoice(request: web.Request) -> web.Response:
    invoice_id, body = _object_id(request), await json_object(request)
    send_type = body.get("sendType", "VPR")
    return await _act(request, lambda account: people.finalise_invoice(account, invoice_id, send_type))


@routes.post(UI + "/Invoice/{id}/cancel")
async def person_cancels_invoice(request: web.Request) -> web.Response:
    invoice_id = _object_id(request)
    return await _act(request, lambda account: people.cancel_invoice(account, invoice_id), status=201)


@routes.post(UI + "/Order/{id}/accept")
async def customer_accepts_offer(request: web.Request) -> web.Response:
    order_id = _object_id(request)
    return await _act(request, lambda account: people.decide_offer(account, order_id, accepted=True))


@routes.post(UI + "/Order/{id}/reject")
async def customer_rejects_offer(request: web.Request) -> web.Response:
    order_id = _object_id(request)
    return await _act(request, lambda account: people.decide_offer(account, order_id, accepted=False))


@routes.post(UI + "/{object_name}/{id}/bookAmount")
async def person_books_payment(request: web.Request) -> web.Response:
    name, document_id, booking = (
        request.match_info["object_name"],
        _object_id(request),
        await json_object(request),
    )
    return await _act(request, lambda account: people.book_payment(account, name, document_id, booking))
