"""``/Order`` and ``/OrderPos``: offers (AN), order confirmations (AB) and delivery notes (LI).

The document machinery invoices share (header fields, positions, totals, the draft rule) lives in
documents.py and document_saving.py; this module is the order resource itself.

Rules of the real API enforced here:

- ``POST /Order/Factory/saveOrder`` ``{order, orderPosSave, orderPosDelete}`` creates an order (no
  ``order.id``, HTTP 201) or updates one (HTTP 200): positions with an ``id`` are changed, those without
  are added, ``orderPosDelete`` must be an array of ``{id, objectName: "OrderPos"}`` references.
- Only drafts (status 100) can be saved or deleted: HTTP 409 with sevDesk code 159 otherwise.
  ``PUT /Order/{id}`` changes header fields of a draft; on any other order it may change ``status``
  (and ``sendType``) only. Setting status 200 directly needs a ``sendType``.
- References must exist: contact, contactPerson (SevUser), addressCountry (StaticCountry), each
  position's unity and part. A part does not fill a position's name or price.
- The positions' tax rates must fit ``taxRule`` and ``smallSettlement`` (422, see money.py).
- sevDesk computes all totals: positions carry JSON numbers (``"sumNet": 30``), the document strings
  (``"sumNet": "55"``). ``showNet`` decides whether ``price`` is net or gross; its default is not
  documented and the sandbox then reads prices as gross, so a client that forgets it notices.
  Optional order positions are left out of the totals. Dates are accepted as ``dd.mm.yyyy``, ISO date
  or Unix seconds and come back as Berlin midnight.
- ``GET /Order/{id}/getPdf`` without ``preventSendBy=true`` marks a draft as sent (status 200), as
  measured; ``PUT /Order/{id}/sendBy`` does the same on purpose.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .document_saving import (
    delete_draft,
    list_positions,
    positions_of,
    save_document,
    update_draft_header,
)
from .documents import (
    DRAFT,
    SEND_TYPES,
    SENT,
    DocumentKind,
    filter_documents,
    header_changes,
    not_a_draft,
    pdf_answer,
    read_send_by,
)
from .errors import invalid
from .store import Account, Record
from .wire import (
    API_PREFIX,
    READ_ONLY_KEYS,
    account_of,
    decimal_text,
    deleted,
    flag,
    get_record,
    integer_text,
    ok,
    one,
    page_records,
    path_id,
    query_flag,
    read_body,
    text,
)

routes = web.RouteTableDef()

REJECTED = "300"  # offers: rejected (other orders: cancelled)
ACCEPTED = "500"

# --- orders -----------------------------------------------------------------------------------------

ORDER_STATUSES = frozenset({"100", "200", "300", "500", "750", "1000"})

ORDER = DocumentKind(
    name="Order",
    key="order",
    required=(
        "objectName",
        "mapAll",
        "orderNumber",
        "contact",
        "orderDate",
        "status",
        "header",
        "addressCountry",
        "contactPerson",
        "taxRule",
        "taxText",
        "currency",
        "version",
    ),
    position_required=("quantity", "unity", "taxRate"),
    coercers={
        **dict.fromkeys(
            (
                "orderNumber",
                "header",
                "headText",
                "footText",
                "address",
                "customerInternalNote",
                "deliveryTerms",
                "paymentTerms",
                "taxText",
                "taxType",
                "currency",
                "orderType",
                "deliveryAddressCountry",
            ),
            text,
        ),
        "status": integer_text,
        "version": integer_text,
        "taxRate": decimal_text,
        "showNet": flag,
        "smallSettlement": flag,
    },
    references={"contact": "Contact", "addressCountry": "StaticCountry", "contactPerson": "SevUser"},
    dates=("orderDate", "sendDate"),
    statuses=ORDER_STATUSES,
    type_key="orderType",
    types=frozenset({"AN", "AB", "LI"}),
    defaults={
        "orderNumber": None,
        "contact": None,
        "orderDate": None,
        "status": DRAFT,
        "header": None,
        "headText": None,
        "footText": None,
        "addressCountry": None,
        "createUser": None,
        "deliveryTerms": None,
        "paymentTerms": None,
        "origin": None,
        "version": "0",
        "smallSettlement": "0",
        "contactPerson": None,
        "taxRate": "0",
        "taxRule": None,
        "taxSet": None,
        "taxText": None,
        "taxType": None,
        "orderType": "AN",
        "sendDate": None,
        "address": None,
        "currency": None,
        "customerInternalNote": None,
        "showNet": "0",
        "sendType": None,
    },
    optional_positions=True,
    origins=("Order",),
)

# What PUT may change on an order that is no longer a draft.
_NON_DRAFT_KEYS = frozenset({"status", "sendType"}) | READ_ONLY_KEYS


def _mark_sent(account: Account, order: Record, send_type: str) -> None:
    account.update(order, {"status": SENT, "sendType": send_type, "sendDate": account.now()})


@routes.post(f"{API_PREFIX}/Order/Factory/saveOrder")
async def save_order(request: web.Request) -> web.Response:
    return save_document(account_of(request), ORDER, await read_body(request))


@routes.get(f"{API_PREFIX}/Order")
async def list_orders(request: web.Request) -> web.Response:
    records = list(account_of(request).table(ORDER.name).values())
    return page_records(request, filter_documents(request, records, ("orderNumber", "orderType", "status")))


@routes.get(API_PREFIX + r"/Order/{id:\d+}")
async def get_order(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), ORDER.name, path_id(request)).render())


@routes.get(API_PREFIX + r"/Order/{id:\d+}/getPositions")
async def get_order_positions(request: web.Request) -> web.Response:
    account = account_of(request)
    order = get_record(account, ORDER.name, path_id(request))
    return page_records(request, positions_of(account, ORDER, order.id))


@routes.get(f"{API_PREFIX}/OrderPos")
async def list_order_positions(request: web.Request) -> web.Response:
    return list_positions(request, ORDER)


@routes.put(API_PREFIX + r"/Order/{id:\d+}")
async def update_order(request: web.Request) -> web.Response:
    account = account_of(request)
    order = get_record(account, ORDER.name, path_id(request))
    body = await read_body(request)
    if order.fields["status"] != DRAFT and set(body) - _NON_DRAFT_KEYS:
        raise not_a_draft(ORDER)
    # sendType is not a header field of saveOrder, so it is taken here.
    sending: dict[str, Any] = {}
    if "sendType" in body:
        if body["sendType"] not in SEND_TYPES:
            raise invalid(f"sendType must be one of {', '.join(sorted(SEND_TYPES))}")
        sending["sendType"] = body["sendType"]
    if integer_text("status", body.get("status")) == SENT and order.fields["status"] != SENT:
        if not sending:
            raise invalid("Setting status 200 needs a sendType (VPR, VP, VM or VPDF); or use sendBy")
        sending["sendDate"] = account.now()
    if order.fields["status"] == DRAFT:
        update_draft_header(account, ORDER, order, body)
    else:
        account.update(order, header_changes(account, ORDER, body))
    if sending:
        account.update(order, sending)
    return ok(order.render())


@routes.delete(API_PREFIX + r"/Order/{id:\d+}")
async def delete_order(request: web.Request) -> web.Response:
    account = account_of(request)
    delete_draft(account, ORDER, get_record(account, ORDER.name, path_id(request)))
    return deleted()


@routes.put(API_PREFIX + r"/Order/{id:\d+}/sendBy")
async def send_order(request: web.Request) -> web.Response:
    account = account_of(request)
    order = get_record(account, ORDER.name, path_id(request))
    send_type, send_draft = await read_send_by(request)
    if not send_draft:
        if order.fields["status"] == DRAFT:
            _mark_sent(account, order, send_type)
        else:
            account.update(order, {"sendType": send_type, "sendDate": account.now()})
    return ok(order.render())


@routes.get(API_PREFIX + r"/Order/{id:\d+}/getPdf")
async def get_order_pdf(request: web.Request) -> web.Response:
    account = account_of(request)
    order = get_record(account, ORDER.name, path_id(request))
    if not query_flag(request, "preventSendBy") and order.fields["status"] == DRAFT:
        # The measured trap: fetching the PDF of a draft counts as sending it.
        _mark_sent(account, order, "VPDF")
    number = order.fields.get("orderNumber") or f"Order-{order.id}"
    return pdf_answer(f"{number}.pdf", f"Order {number}")
