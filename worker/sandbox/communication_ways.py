"""``/CommunicationWay``: e-mail addresses, phone numbers and websites of a contact.

sevDesk keeps them apart from the contact; ``main`` is rendered as "0"/"1". The list filters
``contact[id]``, ``type`` and ``main`` are applied strictly here (real tenants were seen to return
an empty list for combined filters, which clients must survive anyway by filtering locally).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .contacts import change_contact_part, contact_reference, delete_contact_part, touch_contact
from .errors import invalid
from .lookups import COMMUNICATION_WAY_KEYS, find_static
from .store import Account, Record, ref
from .wire import (
    API_PREFIX,
    Coercer,
    account_of,
    coerce_fields,
    created,
    deleted,
    flag,
    get_record,
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

OBJECT_NAME = "CommunicationWay"
TYPES = frozenset({"EMAIL", "PHONE", "WEB", "MOBILE", "FAX"})

_COERCERS: dict[str, Coercer] = {"value": text, "main": flag}


def _check_type(value: Any) -> str:
    if value not in TYPES:
        raise invalid(f"type must be one of {', '.join(sorted(TYPES))}, got {value!r}")
    return str(value)


def _apply_references(account: Account, body: dict[str, Any], fields: dict[str, Any]) -> None:
    if "contact" in body:
        fields["contact"] = contact_reference(account, "contact", body["contact"])
    if "key" in body:
        key_id = parse_ref("key", body["key"], "CommunicationWayKey")
        if find_static(COMMUNICATION_WAY_KEYS, key_id) is None:
            raise invalid(f"key: no CommunicationWayKey with id {key_id}")
        fields["key"] = ref("CommunicationWayKey", key_id)
    if "type" in body:
        fields["type"] = _check_type(body["type"])


@routes.post(f"{API_PREFIX}/CommunicationWay")
async def create_communication_way(request: web.Request) -> web.Response:
    return created(insert_communication_way(account_of(request), await read_body(request)))


def insert_communication_way(account: Account, body: dict[str, Any]) -> Record:
    """A new communication way from a request body (the API's, or a person's); 422 if invalid."""
    require(body, OBJECT_NAME, ("contact", "type", "value", "key"))
    fields: dict[str, Any] = {"contact": None, "type": None, "value": None, "key": None, "main": "0"}
    fields.update(coerce_fields(body, _COERCERS))
    if fields["main"] is None:
        fields["main"] = "0"
    _apply_references(account, body, fields)
    record = account.insert(OBJECT_NAME, fields)
    touch_contact(account, fields["contact"])
    return record


@routes.get(f"{API_PREFIX}/CommunicationWay")
async def list_communication_ways(request: web.Request) -> web.Response:
    query = request.query
    records = list(account_of(request).table(OBJECT_NAME).values())
    if (contact_id := query.get("contact[id]")) is not None:
        records = [r for r in records if r.fields["contact"]["id"] == contact_id]
    if (wanted_type := query.get("type")) is not None:
        records = [r for r in records if r.fields["type"] == wanted_type]
    if (main := query.get("main")) is not None:
        wanted_main = "1" if main.lower() in ("1", "true") else "0"
        records = [r for r in records if r.fields["main"] == wanted_main]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/CommunicationWay/{id:\d+}")
async def get_communication_way(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), OBJECT_NAME, path_id(request)).render())


@routes.put(API_PREFIX + r"/CommunicationWay/{id:\d+}")
async def update_communication_way(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    body = await read_body(request)
    changes = coerce_fields(body, _COERCERS)
    if "value" in changes and not changes["value"]:
        raise invalid("value must not be empty")
    if "main" in changes and changes["main"] is None:
        changes["main"] = "0"
    _apply_references(account, body, changes)
    change_contact_part(account, record, changes)
    return ok(record.render())


@routes.delete(API_PREFIX + r"/CommunicationWay/{id:\d+}")
async def delete_communication_way(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    delete_contact_part(account, record)
    return deleted()
