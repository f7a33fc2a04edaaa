"""``/ContactAddress``: postal addresses of a contact (separate objects, as in sevDesk).

``contact``, ``country`` (a StaticCountry id, not an ISO code) and ``category`` (an address
category from ``GET /Category?objectType=ContactAddress``) are required and must exist.
The list filter ``contact[id]`` is undocumented in the spec but works against the real API. The
create answer inlines the full contact object (measured); reads carry only the reference.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .contacts import change_contact_part, contact_reference, delete_contact_part, touch_contact
from .errors import invalid
from .lookups import STATIC_COUNTRIES, category_exists, find_static
from .store import Account, Record, ref
from .wire import (
    API_PREFIX,
    Coercer,
    account_of,
    coerce_fields,
    deleted,
    get_record,
    ok,
    one,
    page_records,
    parse_ref,
    path_id,
    read_body,
    text,
)

routes = web.RouteTableDef()

OBJECT_NAME = "ContactAddress"
_REFERENCES = ("contact", "country", "category")

_COERCERS: dict[str, Coercer] = dict.fromkeys(
    ("street", "zip", "city", "name", "name2", "name3", "name4"), text
)

_DEFAULTS: dict[str, Any] = {
    "contact": None,
    "street": None,
    "zip": None,
    "city": None,
    "country": None,
    "category": None,
    "name": None,
    "name2": None,
    "name3": None,
    "name4": None,
}


def _apply_references(account: Account, body: dict[str, Any], fields: dict[str, Any]) -> None:
    for key in _REFERENCES:
        if key not in body:
            continue
        if body[key] is None:
            raise invalid(f"{OBJECT_NAME}: {key} must not be null")
        if key == "contact":
            fields[key] = contact_reference(account, key, body[key])
        elif key == "country":
            country_id = parse_ref(key, body[key], "StaticCountry")
            if find_static(STATIC_COUNTRIES, country_id) is None:
                raise invalid(f"country: no StaticCountry with id {country_id}")
            fields[key] = ref("StaticCountry", country_id)
        else:
            category_id = parse_ref(key, body[key], "Category")
            if not category_exists(category_id, OBJECT_NAME):
                raise invalid(f"category: no Category with id {category_id} for contact addresses")
            fields[key] = ref("Category", category_id)


def insert_address(account: Account, body: dict[str, Any]) -> Record:
    """A new address from a request body (the API's, or a person's in the UI); 422 if invalid."""
    missing = [key for key in _REFERENCES if body.get(key) is None]
    if missing:
        raise invalid(f"{OBJECT_NAME}: missing required field(s): {', '.join(missing)}")
    fields = {**_DEFAULTS, **coerce_fields(body, _COERCERS)}
    _apply_references(account, body, fields)
    record = account.insert(OBJECT_NAME, fields)
    touch_contact(account, fields["contact"])
    return record


@routes.post(f"{API_PREFIX}/ContactAddress")
async def create_address(request: web.Request) -> web.Response:
    account = account_of(request)
    record = insert_address(account, await read_body(request))
    rendered = record.render()
    # The real create answer inlines the whole contact (measured); reads show only the reference.
    contact = account.find("Contact", int(record.fields["contact"]["id"]))
    if contact is not None:
        rendered["contact"] = contact.render()
    return ok(rendered, status=201)


@routes.get(f"{API_PREFIX}/ContactAddress")
async def list_addresses(request: web.Request) -> web.Response:
    records = list(account_of(request).table(OBJECT_NAME).values())
    if (contact_id := request.query.get("contact[id]")) is not None:
        records = [r for r in records if r.fields["contact"]["id"] == contact_id]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/ContactAddress/{id:\d+}")
async def get_address(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), OBJECT_NAME, path_id(request)).render())


@routes.put(API_PREFIX + r"/ContactAddress/{id:\d+}")
async def update_address(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    body = await read_body(request)
    changes = coerce_fields(body, _COERCERS)
    _apply_references(account, body, changes)
    change_contact_part(account, record, changes)
    return ok(record.render())


@routes.delete(API_PREFIX + r"/ContactAddress/{id:\d+}")
async def delete_address(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    delete_contact_part(account, record)
    return deleted()
