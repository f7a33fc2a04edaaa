"""``/Invoice`` and ``/InvoicePos``: invoices, their lifecycle and cancellation (Storno).

Saving, positions and totals work as for orders (the machinery lives in documents.py and
document_saving.py). Rules of the real API enforced here:

- ``POST /Invoice/Factory/saveInvoice`` creates invoices only as drafts (status 100, else 422) and
  updates drafts only (409, code 159). Without ``invoiceNumber`` the number stays null until the
  invoice is finalised by ``PUT /Invoice/{id}/sendBy`` (``sendDraft: false``), which sets status 200
  and numbers it from the account's sequence (``RE-1000``, ``RE-1001``, ...); ``sendType`` VPDF also
  enshrines it, as measured. ``takeDefaultAddress: true`` copies the contact's first address when no
  address was sent. AR/TR invoices need taxRule 1 or 11, ER invoices are impossible with 17-21.
- ``GET /Invoice/{id}/getPdf`` without ``preventSendBy=true`` finalises a draft like ``sendBy``.
- A taxRule 11 draft is accepted but refused when finalised if ReceiptGuidance offers no revenue
  account for it (``Account.small_business_guidance``), as an integration measured.
- ``POST /Invoice/{id}/cancelInvoice`` creates a cancellation invoice (``SR``, status 1000, ``origin``
  = the original, negated positions and totals, the original's ``customerInternalNote``). Refused:
  drafts (422), already cancelled (422, code 421), partly paid (**HTTP 200** carrying an error body
  with code 390, as measured). The original keeps its status; the sandbox remembers the cancellation
  and moves the original's ``update``.
- ``DELETE /Invoice/{id}`` deletes drafts only (409, code 159).
- With ``Account.refuse_equal_delivery_date`` on, a save whose ``invoiceDate`` equals its
  ``deliveryDate`` is refused with 422 ("The invoiceDate (...) must be before the deliveryDate
  (...)"), as one live account did; off (the default), it is accepted, as others did.
- ``GET /Invoice`` filters ``invoiceNumber``, ``status``, ``invoiceType``, ``customerInternalNote``
  (exact), ``contact[id]`` and the stamps (``updateAfter``, ..., see timestamps.py); the spec's
  misspelled ``customerIntenalNote`` is ignored like every unknown filter, so it returns everything.
  So is ``origin[id]``, documented but not to be relied on (a search for an invoice's cancellation
  must compare the origin itself).
- Document discounts (``discountSave``) are not emulated: a non-empty list is answered with 501, so a
  test never passes on totals the sandbox did not compute.
- ``paymentMethod`` must name one of the ``GET /PaymentMethod`` lookups (422 otherwise).
- ``propertyIsEInvoice: true`` makes an e-invoice (einvoice.py): the draft is saved whatever it lacks,
  but ``getPdf``, ``sendBy`` and ``getXml`` are refused with 400, code 830, naming every missing
  field. ``GET /Invoice/{id}/getXml`` answers the CII XML of a complete e-invoice once it is
  finalised (the spec offers the XML after finalising); a draft or an invoice without the flag has
  no XML, so both are refused with 400.

``PUT /Invoice/{id}/bookAmount`` lives in banking.py (no drafts; ``FULL_PAYMENT`` only for exactly
the open amount) and reads and writes ``status``, ``sumGross``, ``paidAmount`` (a JSON number) and
``payDate`` of the records kept here. ``GET /Invoice`` and the positions page like every list.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from aiohttp import web

from .document_saving import (
    copy_position,
    delete_draft,
    list_positions,
    positions_of,
    refresh_sums,
    save_document,
)
from .documents import (
    DRAFT,
    SENT,
    DocumentKind,
    api_user,
    filter_documents,
    json_type,
    pdf_answer,
    read_send_by,
)
from .einvoice import einvoice_xml, is_einvoice, require_complete
from .errors import ApiError, error_response, invalid
from .lookups import PAYMENT_METHODS, find_static
from .store import Account, Record, ref
from .wire import (
    API_PREFIX,
    account_of,
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

PARTLY_PAID = "750"
PAID = "1000"
CANCELLATION = "SR"
FIRST_INVOICE_NUMBER = 1000
INVOICE_NUMBER_PREFIX = "RE-"
_SEQUENCE = "invoiceNumber"
# Measured sevDesk error codes of cancelInvoice.
CODE_ALREADY_CANCELLED = 421
CODE_PARTLY_PAID = 390
SMALL_BUSINESS_RULE = 11
_PARTIAL_TYPES = frozenset({"AR", "TR"})  # advance and partial invoices
_NO_FINAL_INVOICE_RULES = frozenset({17, 18, 19, 20, 21})
_ADDRESS_KEYS = ("address", "addressName", "addressStreet", "addressZip", "addressCity")

INVOICE = DocumentKind(
    name="Invoice",
    key="invoice",
    required=(
        "objectName",
        "mapAll",
        "invoiceDate",
        "contact",
        "contactPerson",
        "discount",
        "status",
        "addressCountry",
        "taxRule",
        "taxText",
        "invoiceType",
        "currency",
    ),
    position_required=("objectName", "quantity", "unity", "taxRate"),
    coercers={
        **dict.fromkeys(
            (
                "invoiceNumber",
                "header",
                "headText",
                "footText",
                *_ADDRESS_KEYS,
                "customerInternalNote",
                "taxText",
                "taxType",
                "currency",
                "invoiceType",
                "deliveryAddressCountry",
            ),
            text,
        ),
        "status": integer_text,
        "timeToPay": integer_text,
        "discountTime": integer_text,
        "discount": decimal_text,
        "taxRate": decimal_text,
        "showNet": flag,
        "smallSettlement": flag,
        "propertyIsEInvoice": flag,
    },
    references={"contact": "Contact", "addressCountry": "StaticCountry", "contactPerson": "SevUser"},
    dates=("invoiceDate", "deliveryDate", "deliveryDateUntil"),
    # saveInvoice only ever stores drafts; the other statuses come from sendBy, bookAmount, Storno.
    statuses=frozenset({DRAFT}),
    type_key="invoiceType",
    types=frozenset({"RE", "WKR", "SR", "MA", "TR", "AR", "ER"}),
    defaults={
        "invoiceNumber": None,
        "contact": None,
        "invoiceDate": None,
        "header": None,
        "headText": None,
        "footText": None,
        "timeToPay": None,
        "discountTime": None,
        "discount": "0",
        **dict.fromkeys(_ADDRESS_KEYS),
        "addressCountry": None,
        "payDate": None,
        "createUser": None,
        "deliveryDate": None,
        "deliveryDateUntil": None,
        "status": DRAFT,
        "smallSettlement": "0",
        "contactPerson": None,
        "taxRate": "0",
        "taxRule": None,
        "taxText": None,
        "taxType": None,
        "dunningLevel": None,
        "paymentMethod": None,
        "sendDate": None,
        "origin": None,
        "invoiceType": None,
        "currency": None,
        "paidAmount": 0,
        "customerInternalNote": None,
        "showNet": "0",
        "enshrined": None,
        "sendType": None,
    },
    accounting_sums=True,
)


# --- numbering and state ----------------------------------------------------------------------------


def _allocate_invoice_number(account: Account) -> str:
    """The next number of the account's invoice sequence that no invoice holds yet."""
    taken = {r.fields.get("invoiceNumber") for r in account.table(INVOICE.name).values()}
    candidate = account.sequences.get(_SEQUENCE, FIRST_INVOICE_NUMBER)
    while f"{INVOICE_NUMBER_PREFIX}{candidate}" in taken:
        candidate += 1
    account.sequences[_SEQUENCE] = candidate + 1
    return f"{INVOICE_NUMBER_PREFIX}{candidate}"


def _is_partly_paid(invoice: Record) -> bool:
    """Status 750, or some but not all of the gross paid (older accounts keep status 200 then)."""
    if invoice.fields["status"] == PARTLY_PAID:
        return True
    paid = abs(Decimal(str(invoice.fields.get("paidAmount") or 0)))
    gross = abs(Decimal(invoice.fields.get("sumGross") or "0"))
    return Decimal(0) < paid < gross


def finalise(account: Account, invoice: Record, send_type: str, *, enshrine: bool) -> None:
    """A draft becomes an open invoice (status 200) with a number."""
    rule = invoice.fields.get("taxRule") or {}
    if rule.get("id") == str(SMALL_BUSINESS_RULE) and not account.small_business_guidance:
        raise invalid(
            "The invoice cannot be finalised: no revenue account of this client allows taxRule 11 "
            "(Kleinunternehmer)"
        )
    now = account.now()
    changes: dict[str, Any] = {"status": SENT, "sendType": send_type, "sendDate": now}
    if not invoice.fields.get("invoiceNumber"):
        changes["invoiceNumber"] = _allocate_invoice_number(account)
    if enshrine:
        changes["enshrined"] = now
    account.update(invoice, changes)


# --- saving -----------------------------------------------------------------------------------------


def _default_address(account: Account, contact_id: str) -> dict[str, Any]:
    """The contact's first address as invoice address fields (``takeDefaultAddress``)."""
    contact = account.find("Contact", int(contact_id))
    address = next(
        (a for a in account.table("ContactAddress").values() if a.fields["contact"]["id"] == contact_id),
        None,
    )
    if contact is None or address is None:
        return {}
    name = contact.fields.get("name") or " ".join(
        part for part in (contact.fields.get("surename"), contact.fields.get("familyname")) if part
    )
    return {
        "addressName": name or None,
        "addressStreet": address.fields.get("street"),
        "addressZip": address.fields.get("zip"),
        "addressCity": address.fields.get("city"),
        "addressCountry": copy.deepcopy(address.fields["country"]),
    }


def _invoice_rules(
    account: Account, body: dict[str, Any], fields: dict[str, Any], document: Record | None
) -> dict[str, Any]:
    """Invoice-only checks of a save; answers the fields it derives (address, payment method)."""
    for key in ("discountSave", "discountDelete"):
        value = body.get(key)
        if value is not None and not isinstance(value, list):
            raise invalid(f"{key} expected array, {json_type(value)} given")
    if body.get("discountSave"):
        raise ApiError(501, "The sandbox does not emulate document discounts (discountSave); use positions")
    rule_id = int(fields["taxRule"]["id"])
    invoice_type = fields["invoiceType"]
    if invoice_type in _PARTIAL_TYPES and rule_id not in (1, SMALL_BUSINESS_RULE):
        raise invalid(f"Invoices of type {invoice_type} are only possible with taxRule 1 or 11")
    if invoice_type == "ER" and rule_id in _NO_FINAL_INVOICE_RULES:
        raise invalid(f"Final invoices (ER) are not possible with taxRule {rule_id}")
    invoice_date, delivery_date = fields.get("invoiceDate"), fields.get("deliveryDate")
    if account.refuse_equal_delivery_date and invoice_date is not None and invoice_date == delivery_date:
        # One live session refused an equal pair with this message; others accepted it.
        raise invalid(f"The invoiceDate ({invoice_date}) must be before the deliveryDate ({delivery_date})")
    derived: dict[str, Any] = {}
    header = body[INVOICE.key]
    if header.get("paymentMethod") is not None:
        method_id = parse_ref("paymentMethod", header["paymentMethod"], "PaymentMethod")
        if find_static(PAYMENT_METHODS, method_id) is None:
            raise invalid(f"paymentMethod: no PaymentMethod with id {method_id}")
        derived["paymentMethod"] = ref("PaymentMethod", method_id)
    sent_address = any(header.get(key) for key in _ADDRESS_KEYS)
    take_default = flag("takeDefaultAddress", body.get("takeDefaultAddress")) == "1"
    if document is None and take_default and not sent_address:
        derived.update(_default_address(account, fields["contact"]["id"]))
    return derived


@routes.post(f"{API_PREFIX}/Invoice/Factory/saveInvoice")
async def save_invoice(request: web.Request) -> web.Response:
    return save_document(account_of(request), INVOICE, await read_body(request), _invoice_rules)


# --- reading ----------------------------------------------------------------------------------------


@routes.get(f"{API_PREFIX}/Invoice")
async def list_invoices(request: web.Request) -> web.Response:
    records = list(account_of(request).table(INVOICE.name).values())
    exact = ("invoiceNumber", "status", "invoiceType", "customerInternalNote")
    return page_records(request, filter_documents(request, records, exact))


@routes.get(API_PREFIX + r"/Invoice/{id:\d+}")
async def get_invoice(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), INVOICE.name, path_id(request)).render())


@routes.get(API_PREFIX + r"/Invoice/{id:\d+}/getPositions")
async def get_invoice_positions(request: web.Request) -> web.Response:
    account = account_of(request)
    invoice = get_record(account, INVOICE.name, path_id(request))
    return page_records(request, positions_of(account, INVOICE, invoice.id))


@routes.get(f"{API_PREFIX}/InvoicePos")
async def list_invoice_positions(request: web.Request) -> web.Response:
    return list_positions(request, INVOICE)


@routes.get(API_PREFIX + r"/Invoice/{id:\d+}/getIsPartiallyPaid")
async def get_is_partially_paid(request: web.Request) -> web.Response:
    return ok(_is_partly_paid(get_record(account_of(request), INVOICE.name, path_id(request))))


@routes.get(API_PREFIX + r"/Invoice/{id:\d+}/getPdf")
async def get_invoice_pdf(request: web.Request) -> web.Response:
    account = account_of(request)
    invoice = get_record(account, INVOICE.name, path_id(request))
    require_complete(account, invoice)
    if not query_flag(request, "preventSendBy") and invoice.fields["status"] == DRAFT:
        # The measured trap: fetching the PDF of a draft finalises it.
        finalise(account, invoice, "VPDF", enshrine=False)
    number = invoice.fields.get("invoiceNumber") or f"Invoice-draft-{invoice.id}"
    return pdf_answer(f"{number}.pdf", f"Invoice {number}")


@routes.get(API_PREFIX + r"/Invoice/{id:\d+}/getXml")
async def get_invoice_xml(request: web.Request) -> web.Response:
    account = account_of(request)
    invoice = get_record(account, INVOICE.name, path_id(request))
    if not is_einvoice(invoice):
        raise ApiError(400, f"Invoice {invoice.id} is no e-invoice (propertyIsEInvoice), so it has no XML")
    require_complete(account, invoice)
    if invoice.fields["status"] == DRAFT:
        raise ApiError(400, f"Invoice {invoice.id} is a draft: its XML exists once it is finalised")
    return ok(einvoice_xml(account, invoice, positions_of(account, INVOICE, invoice.id)))


# --- lifecycle --------------------------------------------------------------------------------------


@routes.delete(API_PREFIX + r"/Invoice/{id:\d+}")
async def delete_invoice(request: web.Request) -> web.Response:
    account = account_of(request)
    delete_draft(account, INVOICE, get_record(account, INVOICE.name, path_id(request)))
    return deleted()


@routes.put(API_PREFIX + r"/Invoice/{id:\d+}/sendBy")
async def send_invoice(request: web.Request) -> web.Response:
    account = account_of(request)
    invoice = get_record(account, INVOICE.name, path_id(request))
    send_type, send_draft = await read_send_by(request)
    # Even sendDraft renders the document, which an incomplete e-invoice cannot be.
    require_complete(account, invoice)
    # sendDraft only renders an internal draft: nothing changes.
    if not send_draft:
        if invoice.fields["status"] == DRAFT:
            finalise(account, invoice, send_type, enshrine=send_type == "VPDF")
        else:
            account.update(invoice, {"sendType": send_type, "sendDate": account.now()})
    return ok(invoice.render())


@routes.post(API_PREFIX + r"/Invoice/{id:\d+}/cancelInvoice")
async def cancel_invoice(request: web.Request) -> web.Response:
    account = account_of(request)
    original = get_record(account, INVOICE.name, path_id(request))
    try:
        cancellation = cancel(account, original)
    except ApiError as exc:
        if exc.code != CODE_PARTLY_PAID:
            raise
        # Measured: the refusal arrives with HTTP 200, the error only in the body.
        return error_response(200, exc.message, code=CODE_PARTLY_PAID, body_status=exc.status)
    return ok(cancellation.render(), status=201)


def cancel(account: Account, original: Record) -> Record:
    """Storno (the API's or a person's): the cancellation invoice; ApiError if refused."""
    if original.fields["status"] == DRAFT:
        raise invalid("A draft cannot be cancelled; delete it instead")
    if original.fields["invoiceType"] == CANCELLATION:
        raise invalid("A cancellation invoice cannot be cancelled")
    if original.meta.get("cancelled_by") is not None:
        raise ApiError(422, "This invoice has already been cancelled", code=CODE_ALREADY_CANCELLED)
    if _is_partly_paid(original):
        raise ApiError(
            422, "A partly paid invoice cannot be cancelled; reset its payments first", code=CODE_PARTLY_PAID
        )
    cancellation = _create_cancellation(account, original)
    original.meta["cancelled_by"] = cancellation.id
    account.update(original, {})  # being cancelled is a change of the original
    return cancellation


def _create_cancellation(account: Account, original: Record) -> Record:
    number = _allocate_invoice_number(account)
    now = account.now()
    fields = copy.deepcopy(original.fields)
    fields.update(
        {
            "invoiceNumber": number,
            "header": f"Cancellation Invoice No. {number} to Invoice No. {original.fields['invoiceNumber']}",
            "invoiceDate": now,
            "invoiceType": CANCELLATION,
            "status": PAID,
            "origin": ref(INVOICE.name, original.id),
            "paidAmount": 0,
            "payDate": None,
            "dunningLevel": None,
            "sendDate": None,
            "sendType": "VPDF",
            "enshrined": now,
            "createUser": api_user(account),
        }
    )
    cancellation = account.insert(INVOICE.name, fields)
    for position in positions_of(account, INVOICE, original.id):
        copy_position(account, INVOICE, position, cancellation, sign=-1)
    refresh_sums(account, INVOICE, cancellation)
    return cancellation
