"""``/Tag`` and ``/TagRelation``: named labels attached to documents.

Rules of the real API kept here:

- ``POST /Tag/Factory/create`` ``{name, object: {id, objectName}}`` tags an Invoice, Voucher, Order or
  CreditNote only (anything else, a Contact included, is 422). It creates the tag when no tag of that
  name exists, reuses it otherwise, and answers the ``TagRelation`` (``tag`` and ``object``
  references), with HTTP 200 as the spec documents.
- Tagging an object with a tag it already carries answers the existing relation (the real behaviour is
  unmeasured; a second relation would change nothing a client can see).
- ``GET /Tag`` filters ``name`` exactly; ``GET /TagRelation`` has no documented filters, the sandbox
  accepts ``tag[id]``, ``object[id]`` and ``object[objectName]``.
- Deleting a tag removes its relations; deleting a document removes the relations to it
  (:func:`forget_relations`, called by the document modules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .errors import invalid
from .store import Account, Record, ref
from .wire import (
    API_PREFIX,
    account_of,
    deleted,
    get_record,
    ok,
    one,
    page_records,
    parse_id,
    path_id,
    read_body,
)

routes = web.RouteTableDef()

TAG = "Tag"
RELATION = "TagRelation"
TAGGABLE = ("Invoice", "Voucher", "Order", "CreditNote")


def forget_relations(account: Account, object_name: str, object_id: int) -> None:
    """Drop the relations of a deleted document, so no relation points at nothing."""
    wanted = ref(object_name, object_id)
    table = account.table(RELATION)
    for relation_id in [i for i, r in table.items() if r.fields["object"] == wanted]:
        del table[relation_id]


def _tag_name(body: Mapping[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("Tag: name must be a non-empty string")
    return name


def _tagged_object(account: Account, value: Any) -> dict[str, str]:
    """The wire reference of the object to tag; it must be of a taggable type and exist."""
    if not isinstance(value, Mapping) or "id" not in value or "objectName" not in value:
        raise invalid(f"object expected array with 'id' and 'objectName'. {type(value).__name__} given")
    object_name = value["objectName"]
    if object_name not in TAGGABLE:
        raise invalid(f"Only objects of type {', '.join(TAGGABLE)} can be tagged, not {object_name!r}")
    object_id = parse_id("object", value["id"])
    if account.find(object_name, object_id) is None:
        raise invalid(f"object: no {object_name} with id {object_id}")
    return ref(object_name, object_id)


def _find_tag(account: Account, name: str) -> Record | None:
    return next((t for t in account.table(TAG).values() if t.fields["name"] == name), None)


@routes.post(f"{API_PREFIX}/Tag/Factory/create")
async def create_tag(request: web.Request) -> web.Response:
    account = account_of(request)
    body = await read_body(request)
    name = _tag_name(body)
    target = _tagged_object(account, body.get("object"))
    tag = _find_tag(account, name) or account.insert(TAG, {"name": name})
    tag_ref = ref(TAG, tag.id)
    relation = next(
        (
            r
            for r in account.table(RELATION).values()
            if r.fields["tag"] == tag_ref and r.fields["object"] == target
        ),
        None,
    )
    if relation is None:
        relation = account.insert(RELATION, {"tag": tag_ref, "object": target})
    return ok(relation.render())


@routes.get(f"{API_PREFIX}/Tag")
async def list_tags(request: web.Request) -> web.Response:
    records = list(account_of(request).table(TAG).values())
    if (name := request.query.get("name")) is not None:
        records = [r for r in records if r.fields["name"] == name]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/Tag/{id:\d+}")
async def get_tag(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), TAG, path_id(request)).render())


@routes.put(API_PREFIX + r"/Tag/{id:\d+}")
async def rename_tag(request: web.Request) -> web.Response:
    account = account_of(request)
    tag = get_record(account, TAG, path_id(request))
    account.update(tag, {"name": _tag_name(await read_body(request))})
    return ok(tag.render())


@routes.delete(API_PREFIX + r"/Tag/{id:\d+}")
async def delete_tag(request: web.Request) -> web.Response:
    account = account_of(request)
    tag = get_record(account, TAG, path_id(request))
    tag_ref = ref(TAG, tag.id)
    table = account.table(RELATION)
    for relation_id in [i for i, r in table.items() if r.fields["tag"] == tag_ref]:
        del table[relation_id]
    account.delete(TAG, tag.id)
    return deleted()


@routes.get(f"{API_PREFIX}/TagRelation")
async def list_tag_relations(request: web.Request) -> web.Response:
    query = request.query
    records = list(account_of(request).table(RELATION).values())
    for query_key, field, part in (
        ("tag[id]", "tag", "id"),
        ("object[id]", "object", "id"),
        ("object[objectName]", "object", "objectName"),
    ):
        if (wanted := query.get(query_key)) is not None:
            records = [r for r in records if r.fields[field][part] == wanted]
    return page_records(request, records)
