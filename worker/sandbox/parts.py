"""``/Part``: articles of the inventory.

Required: ``name``, ``partNumber``, ``stock``, ``unity`` (a Unity reference) and ``taxRate``.
Accounts on sevdesk-Update 2.0 accept only the tax rates 0, 7 and 19 (else 422). Amounts are
stored as exact decimal strings and rendered as strings. The spec has no ``DELETE /Part``.
``name`` filters by case-insensitive substring (exactness is undocumented, so clients must compare
themselves); ``partNumber`` matches exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import invalid
from .lookups import UNITIES, category_exists, find_static
from .store import Account, Record, ref
from .wire import (
    API_PREFIX,
    Coercer,
    account_of,
    coerce_fields,
    created,
    decimal_text,
    flag,
    get_record,
    integer_text,
    ok,
    one,
    page_records,
    parse_ref,
    path_id,
    read_body,
    require,
    text,
)

routes = web.RouteTableDef()

OBJECT_NAME = "Part"
UPDATE_2_TAX_RATES = frozenset({Decimal(0), Decimal(7), Decimal(19)})
STATUSES = frozenset({"50", "100"})
TAX_RATE_MESSAGE = "Creating products with a tax rate other than 0.0, 7.0 and 19.0 is no longer possible"

_COERCERS: dict[str, Coercer] = {
    "name": text,
    "partNumber": text,
    "text": text,
    "internalComment": text,
    "stock": decimal_text,
    "price": decimal_text,
    "priceNet": decimal_text,
    "priceGross": decimal_text,
    "pricePurchase": decimal_text,
    "taxRate": decimal_text,
    "status": integer_text,
    "stockEnabled": flag,
}

_DEFAULTS: dict[str, Any] = {
    "name": None,
    "partNumber": None,
    "text": None,
    "category": None,
    "stock": None,
    "stockEnabled": "0",
    "unity": None,
    "price": None,
    "priceNet": None,
    "priceGross": None,
    "pricePurchase": None,
    "taxRate": None,
    "status": "100",
    "internalComment": None,
}


def _validate(account: Account, body: dict[str, Any], fields: dict[str, Any]) -> None:
    """Check values and references; store references in their wire form."""
    for key in ("name", "partNumber", "stock", "taxRate"):
        if key in body and fields.get(key) in (None, ""):
            raise invalid(f"{OBJECT_NAME}: {key} must not be empty")
    if "unity" in body:
        unity_id = parse_ref("unity", body["unity"], "Unity")
        if find_static(UNITIES, unity_id) is None:
            raise invalid(f"unity: no Unity with id {unity_id}")
        fields["unity"] = ref("Unity", unity_id)
    if body.get("category") is not None:
        category_id = parse_ref("category", body["category"], "Category")
        if not category_exists(category_id, OBJECT_NAME):
            raise invalid(f"category: no Category with id {category_id} for parts")
        fields["category"] = ref("Category", category_id)
    if "status" in fields and fields["status"] not in STATUSES:
        raise invalid("status must be 50 (inactive) or 100 (active)")
    tax_rate = fields.get("taxRate")
    update_2 = account.bookkeeping_version == "2.0"
    if update_2 and tax_rate is not None and Decimal(tax_rate) not in UPDATE_2_TAX_RATES:
        # Same rule and wording as sevDesk's Update 2.0 notes for parts.
        raise invalid(TAX_RATE_MESSAGE)


@routes.post(f"{API_PREFIX}/Part")
async def create_part(request: web.Request) -> web.Response:
    return created(insert_part(account_of(request), await read_body(request)))


def insert_part(account: Account, body: dict[str, Any]) -> Record:
    """A new part from a request body (the API's, or a person's in the UI); 422 if invalid."""
    require(body, OBJECT_NAME, ("name", "partNumber", "stock", "unity", "taxRate"))
    fields = {**_DEFAULTS, **coerce_fields(body, _COERCERS)}
    if fields["status"] is None:
        fields["status"] = _DEFAULTS["status"]
    _validate(account, body, fields)
    return account.insert(OBJECT_NAME, fields)


@routes.get(f"{API_PREFIX}/Part")
async def list_parts(request: web.Request) -> web.Response:
    records = list(account_of(request).table(OBJECT_NAME).values())
    if (part_number := request.query.get("partNumber")) is not None:
        records = [r for r in records if r.fields["partNumber"] == part_number]
    if (name := request.query.get("name")) is not None:
        records = [r for r in records if name.lower() in str(r.fields["name"] or "").lower()]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/Part/{id:\d+}")
async def get_part(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), OBJECT_NAME, path_id(request)).render())


@routes.get(API_PREFIX + r"/Part/{id:\d+}/getStock")
async def get_part_stock(request: web.Request) -> web.Response:
    record = get_record(account_of(request), OBJECT_NAME, path_id(request))
    return ok(record.fields["stock"])


@routes.put(API_PREFIX + r"/Part/{id:\d+}")
async def update_part(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    body = await read_body(request)
    changes = coerce_fields(body, _COERCERS)
    if "status" in changes and changes["status"] is None:
        changes["status"] = record.fields["status"]
    _validate(account, body, changes)
    account.update(record, changes)
    return ok(record.render())
