"""``/Contact`` and the customer-number endpoints.

Behaviour copied from the real API (see the sevDesk notes the project keeps):

- The type is fixed at creation: ``name`` makes an organisation, otherwise ``surename`` and/or
  ``familyname`` make a person. A later ``PUT`` with ``name`` does not turn a person into an
  organisation.
- ``GET /Contact`` lists organisations only unless ``depth=1``; ``customerNumber`` matches exactly,
  ``name`` is a case-insensitive substring over name, surename and familyname; ``updateAfter`` and
  the other stamp filters as in :mod:`sevsync.sandbox.timestamps`.
- Without ``customerNumber`` the next free number is assigned. ``getNextCustomerNumber`` reports it
  without reserving it; numbers taken explicitly are skipped. Duplicate customer numbers sent by a
  client are accepted, as sevDesk accepts them (that is how retried creates produce duplicates).
- ``checkCustomerNumberAvailability`` without ``customerNumber`` answers HTTP 500.
- A contact person (a contact created with a ``parent``) carries its organisation's customer number,
  whatever was sent: an integration saw exactly that on the real API. Whether creating one moves the
  number sequence is not measured; here it does not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import ApiError, invalid
from .lookups import category_exists
from .store import Account, Record, ref
from .timestamps import filter_by_time
from .wire import (
    API_PREFIX,
    Coercer,
    account_of,
    coerce_fields,
    created,
    decimal_text,
    deleted,
    flag,
    get_record,
    integer_text,
    ok,
    one,
    page_records,
    parse_ref,
    path_id,
    query_flag,
    read_body,
    text,
)

routes = web.RouteTableDef()

OBJECT_NAME = "Contact"
ORGANISATION = "organisation"
PERSON = "person"
FIRST_CUSTOMER_NUMBER = 1000
_SEQUENCE = "customerNumber"

_COERCERS: dict[str, Coercer] = {
    **dict.fromkeys(
        (
            "name",
            "customerNumber",
            "surename",
            "familyname",
            "titel",
            "description",
            "academicTitle",
            "gender",
            "name2",
            "birthday",
            "vatNumber",
            "bankAccount",
            "bankNumber",
            "mandateReference",
            "taxNumber",
            "taxOffice",
            "taxType",
            "buyerReference",
        ),
        text,
    ),
    "status": integer_text,
    "defaultCashbackTime": integer_text,
    "defaultTimeToPay": integer_text,
    "defaultCashbackPercent": decimal_text,
    "defaultDiscountAmount": decimal_text,
    "exemptVat": flag,
    "defaultDiscountPercentage": flag,
    "governmentAgency": flag,
    "defaultShowVat": flag,
}

# What a freshly created contact shows for fields the client did not send (measured defaults).
_DEFAULTS: dict[str, Any] = {
    "name": None,
    "status": "100",
    "customerNumber": None,
    "surename": None,
    "familyname": None,
    "titel": None,
    "category": None,
    "description": None,
    "academicTitle": None,
    "gender": None,
    "name2": None,
    "birthday": None,
    "vatNumber": None,
    "bankAccount": None,
    "bankNumber": None,
    "mandateReference": None,
    "defaultCashbackTime": None,
    "defaultCashbackPercent": None,
    "defaultTimeToPay": None,
    "taxNumber": None,
    "taxOffice": None,
    "exemptVat": "0",
    "taxType": None,
    "defaultDiscountAmount": None,
    "defaultDiscountPercentage": "0",
    "buyerReference": None,
    "governmentAgency": "0",
    "defaultShowVat": "1",
}


def is_person(record: Record) -> bool:
    return bool(record.meta.get("kind") == PERSON)


# --- customer numbers -------------------------------------------------------------------------------


def _taken_numbers(account: Account) -> set[str]:
    return {
        number
        for record in account.table(OBJECT_NAME).values()
        if (number := record.fields.get("customerNumber")) is not None
    }


def next_customer_number(account: Account) -> str:
    """The next number of the sequence that no contact holds yet (not reserved)."""
    candidate = account.sequences.get(_SEQUENCE, FIRST_CUSTOMER_NUMBER)
    taken = _taken_numbers(account)
    while str(candidate) in taken:
        candidate += 1
    return str(candidate)


def allocate_customer_number(account: Account) -> str:
    """Take the next number of the sequence (an API create or a person in the UI does this)."""
    number = next_customer_number(account)
    account.sequences[_SEQUENCE] = int(number) + 1
    return number


# --- validation -------------------------------------------------------------------------------------


def contact_reference(account: Account, key: str, value: Any) -> dict[str, str]:
    """The wire form of a reference to an existing contact (422 if it does not exist)."""
    contact_id = parse_ref(key, value, OBJECT_NAME)
    if account.find(OBJECT_NAME, contact_id) is None:
        raise invalid(f"{key}: no Contact with id {contact_id}")
    return ref(OBJECT_NAME, contact_id)


# Objects that belong to a contact: they go with it, and a change of one is a change of the contact.
CONTACT_PARTS = ("ContactAddress", "CommunicationWay")


def touch_contact(account: Account, reference: Any) -> None:
    """Move the ``update`` of the contact an address or communication way belongs to.

    An ASSUMPTION, not measured on the real API: a change of a contact's address, e-mail or phone
    counts as a change of the contact, so ``updateAfter`` on ``/Contact`` finds it.
    """
    if isinstance(reference, dict) and (contact := account.find(OBJECT_NAME, int(reference["id"]))):
        account.update(contact, {})


def change_contact_part(account: Account, record: Record, changes: dict[str, Any]) -> None:
    """Change an address or communication way, and so its contact (both, if it moved to another)."""
    before = record.fields.get("contact")
    account.update(record, changes)
    touch_contact(account, before)
    if record.fields.get("contact") != before:
        touch_contact(account, record.fields.get("contact"))


def delete_contact_part(account: Account, record: Record) -> None:
    account.delete(record.object_name, record.id)
    touch_contact(account, record.fields.get("contact"))


def _apply_references(
    account: Account, body: dict[str, Any], fields: dict[str, Any], own_id: int | None
) -> None:
    """Validate ``category`` and ``parent`` and store them in their wire form."""
    if "category" in body:
        category_id = parse_ref("category", body["category"], "Category")
        if not category_exists(category_id, OBJECT_NAME):
            raise invalid(f"category: no Category with id {category_id} for contacts")
        fields["category"] = ref("Category", category_id)
    if "parent" in body:
        if body["parent"] is None:
            fields["parent"] = None
            return
        parent = contact_reference(account, "parent", body["parent"])
        parent_record = account.find(OBJECT_NAME, int(parent["id"]))
        if parent_record is None or is_person(parent_record) or parent_record.id == own_id:
            raise invalid("parent must be another contact that is an organisation")
        fields["parent"] = parent


def _kind_of(fields: dict[str, Any]) -> str:
    if fields.get("name"):
        return ORGANISATION
    if fields.get("surename") or fields.get("familyname"):
        return PERSON
    raise invalid("Contact needs a name (organisation) or a surename/familyname (person)")


# --- routes -----------------------------------------------------------------------------------------


@routes.post(f"{API_PREFIX}/Contact")
async def create_contact(request: web.Request) -> web.Response:
    return created(insert_contact(account_of(request), await read_body(request)))


def insert_contact(account: Account, body: dict[str, Any]) -> Record:
    """A new contact from a request body (the API's, or a person's in the UI); 422 if invalid."""
    if body.get("category") is None:
        raise invalid("Contact: missing required field(s): category")
    fields = {**_DEFAULTS, **coerce_fields(body, _COERCERS)}
    _apply_references(account, body, fields, own_id=None)
    kind = _kind_of(fields)
    if fields["status"] is None:
        fields["status"] = _DEFAULTS["status"]
    parent = fields.get("parent")
    if parent:
        parent_record = account.find(OBJECT_NAME, int(parent["id"]))
        assert parent_record is not None  # _apply_references checked it
        fields["customerNumber"] = parent_record.fields.get("customerNumber")
    elif not fields["customerNumber"]:
        fields["customerNumber"] = allocate_customer_number(account)
    return account.insert(OBJECT_NAME, fields, {"kind": kind})


@routes.get(f"{API_PREFIX}/Contact")
async def list_contacts(request: web.Request) -> web.Response:
    query = request.query
    records = filter_by_time(request, list(account_of(request).table(OBJECT_NAME).values()))
    if not query_flag(request, "depth"):
        records = [r for r in records if not is_person(r)]
    if (number := query.get("customerNumber")) is not None:
        records = [r for r in records if r.fields.get("customerNumber") == number]
    if (needle := query.get("name")) is not None:
        lowered = needle.lower()
        records = [
            r
            for r in records
            if any(
                lowered in str(r.fields.get(key) or "").lower() for key in ("name", "surename", "familyname")
            )
        ]
    for key in ("parent", "category"):
        if (wanted := query.get(f"{key}[id]")) is not None:
            records = [r for r in records if (r.fields.get(key) or {}).get("id") == wanted]
    if (order := query.get("orderByCustomerNumber")) is not None:
        records.sort(key=lambda r: str(r.fields.get("customerNumber") or ""), reverse=order.upper() == "DESC")
    return page_records(request, records)


@routes.get(API_PREFIX + r"/Contact/{id:\d+}")
async def get_contact(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), OBJECT_NAME, path_id(request)).render())


@routes.put(API_PREFIX + r"/Contact/{id:\d+}")
async def update_contact(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, OBJECT_NAME, path_id(request))
    body = await read_body(request)
    changes = coerce_fields(body, _COERCERS)
    if "category" in body and body["category"] is None:
        raise invalid("category must not be null")
    _apply_references(account, body, changes, own_id=record.id)
    account.update(record, changes)
    return ok(record.render())


@routes.delete(API_PREFIX + r"/Contact/{id:\d+}")
async def delete_contact(request: web.Request) -> web.Response:
    account = account_of(request)
    delete_contact_record(account, get_record(account, OBJECT_NAME, path_id(request)))
    return deleted()


def delete_contact_record(account: Account, record: Record) -> None:
    # Addresses and communication ways belong to the contact and go with it.
    for child_type in CONTACT_PARTS:
        table = account.table(child_type)
        for child_id in [i for i, child in table.items() if child.fields["contact"]["id"] == str(record.id)]:
            del table[child_id]
    account.delete(OBJECT_NAME, record.id)


@routes.get(f"{API_PREFIX}/Contact/Factory/getNextCustomerNumber")
async def get_next_customer_number(request: web.Request) -> web.Response:
    return ok(next_customer_number(account_of(request)))


@routes.get(f"{API_PREFIX}/Contact/Mapper/checkCustomerNumberAvailability")
async def check_customer_number_availability(request: web.Request) -> web.Response:
    number = request.query.get("customerNumber")
    if not number:
        # The real endpoint fails with a server error instead of a 400 here.
        raise ApiError(500, "customerNumber is required")
    return ok(number not in _taken_numbers(account_of(request)))
