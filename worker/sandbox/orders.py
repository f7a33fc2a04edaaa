"""``/Order`` and ``/OrderPos``: offers (AN), order confirmations (AB) and delivery notes (LI).

The first half of the module is the document machinery that invoices share (header fields,
positions, totals, the draft rule); the second half is the order resource itself.

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

import base64
import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from . import money
from .errors import ApiError, invalid
from .lookups import STATIC_COUNTRIES, UNITIES, find_static
from .store import Account, Record, berlin_offset, ref
from .tags import forget_relations
from .timestamps import filter_by_time
from .wire import (
    API_PREFIX,
    READ_ONLY_KEYS,
    Coercer,
    account_of,
    coerce_fields,
    decimal_text,
    deleted,
    flag,
    get_record,
    integer_text,
    ok,
    one,
    page_records,
    parse_id,
    parse_ref,
    path_id,
    query_flag,
    read_body,
    require,
    text,
)

routes = web.RouteTableDef()

DRAFT = "100"
SENT = "200"
REJECTED = "300"  # offers: rejected (other orders: cancelled)
ACCEPTED = "500"
# sevDesk's error code for changing or deleting a document that is no longer a draft (HTTP 409).
CODE_NOT_A_DRAFT = 159
SEND_TYPES = frozenset({"VPR", "VP", "VM", "VPDF"})

# Header keys sevDesk fills in itself; a client echoing them back from a read changes nothing.
COMPUTED_KEYS = frozenset(
    {
        "createUser",
        "enshrined",
        "paidAmount",
        "payDate",
        "sendType",
        "dunningLevel",
        *(
            f"{total}{suffix}"
            for total in ("sumNet", "sumTax", "sumGross", "sumDiscounts")
            for suffix in ("", "ForeignCurrency", "Accounting")
        ),
    }
)
_POSITION_COMPUTED_KEYS = frozenset(
    {
        "isPercentage",
        "priceNet",
        "priceTax",
        "priceGross",
        *(
            f"{total}{suffix}"
            for total in ("sumNet", "sumTax", "sumGross", "sumDiscount")
            for suffix in ("", "ForeignCurrency", "Accounting")
        ),
    }
)
# Exact position inputs, kept as Decimal in the record's meta and rendered from there.
_AMOUNTS = ("quantity", "price", "discount", "taxRate")
_STATIC_TABLES = {"StaticCountry": STATIC_COUNTRIES, "Unity": UNITIES}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")

# (account, request body, header fields after the change, stored document or None) -> extra changes
ExtraCheck = Callable[[Account, dict[str, Any], dict[str, Any], Record | None], dict[str, Any]]


def _no_extra_check(
    account: Account, body: dict[str, Any], fields: dict[str, Any], document: Record | None
) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class DocumentKind:
    """How one factory-saved document type is named on the wire and which header rules it has."""

    name: str  # "Order"
    key: str  # "order": body key of the header, and the positions' reference to their document
    required: tuple[str, ...]  # header keys a create must send
    position_required: tuple[str, ...]
    coercers: Mapping[str, Coercer]
    references: Mapping[str, str]  # header key -> object name of an existing object
    dates: tuple[str, ...]
    statuses: frozenset[str]  # statuses a save may set
    type_key: str  # "orderType" / "invoiceType"
    types: frozenset[str]
    defaults: Mapping[str, Any]
    optional_positions: bool = False  # orders only: optional positions do not count
    accounting_sums: bool = False  # invoices also show sum*Accounting
    origins: tuple[str, ...] = ("Order", "Invoice")  # what ``origin`` may reference

    @property
    def position_name(self) -> str:
        return f"{self.name}Pos"

    @property
    def save_key(self) -> str:
        return f"{self.key}PosSave"

    @property
    def delete_key(self) -> str:
        return f"{self.key}PosDelete"

    @property
    def answer_key(self) -> str:
        return f"{self.key}Pos"


# --- shared: values and references ------------------------------------------------------------------


def json_type(value: Any) -> str:
    """A value's JSON type name, for messages about wrongly shaped bodies."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def berlin_midnight(day: date) -> str:
    """A date as sevDesk renders it: midnight in Berlin (``2026-10-01T00:00:00+02:00``)."""
    # Berlin switches at 01:00 UTC, so 00:00 UTC of the day has the offset of its local midnight.
    offset = berlin_offset(datetime(day.year, day.month, day.day, tzinfo=UTC))
    return datetime(day.year, day.month, day.day, tzinfo=offset).isoformat()


def document_date(name: str, value: Any) -> str:
    """A request date (``dd.mm.yyyy``, ISO date or date-time, Unix seconds) in its wire form."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(f"{name} must be a date (dd.mm.yyyy) or a timestamp")
    if isinstance(value, int | float) or value.strip().isdigit():
        try:
            moment = datetime.fromtimestamp(int(value), UTC)
        except (ValueError, OverflowError, OSError) as exc:  # NaN, or beyond the years datetime knows
            raise invalid(f"{name} is not a valid timestamp: {value!r}") from exc
        return berlin_midnight(moment.astimezone(berlin_offset(moment)).date())
    raw = value.strip()
    try:
        if match := _DAY_MONTH_YEAR.match(raw):
            day, month, year = (int(part) for part in match.groups())
            return berlin_midnight(date(year, month, day))
        if len(raw) == 10:
            return berlin_midnight(date.fromisoformat(raw))
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise invalid(f"{name} is not a valid date: {value!r}") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(berlin_offset(moment.astimezone(UTC)))
    return berlin_midnight(moment.date())


def existing_reference(account: Account, key: str, value: Any, object_name: str) -> dict[str, str]:
    """The wire form of a reference to an object that exists (422 otherwise, as sevDesk answers)."""
    object_id = parse_ref(key, value, object_name)
    static = _STATIC_TABLES.get(object_name)
    if static is not None:
        found = find_static(static, object_id) is not None
    else:
        found = account.find(object_name, object_id) is not None
    if not found:
        raise invalid(f"{key}: no {object_name} with id {object_id}")
    return ref(object_name, object_id)


def _origin(account: Account, kind: DocumentKind, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("objectName") not in kind.origins:
        raise invalid(f"origin must reference one of {', '.join(kind.origins)}")
    return existing_reference(account, "origin", value, str(value["objectName"]))


def api_user(account: Account) -> dict[str, str]:
    """The SevUser the token belongs to (the account's first user), as ``createUser``."""
    first = min(account.table("SevUser"))
    return ref("SevUser", first)


def not_a_draft(kind: DocumentKind) -> ApiError:
    return ApiError(
        409,
        f"{kind.name} is not a draft (status {DRAFT}) and can no longer be changed or deleted",
        code=CODE_NOT_A_DRAFT,
    )


def _item_list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{key} expected array, {json_type(value)} given")
    return value


# --- shared: header -------------------------------------------------------------------------------


def document_header(kind: DocumentKind, body: Mapping[str, Any]) -> dict[str, Any]:
    header = body.get(kind.key)
    if not isinstance(header, dict):
        raise invalid(f"{kind.key} expected an object with the {kind.name} fields, {json_type(header)} given")
    if header.get("objectName", kind.name) != kind.name:
        raise invalid(f"{kind.key}[objectName] must be '{kind.name}'")
    return header


def header_changes(account: Account, kind: DocumentKind, header: Mapping[str, Any]) -> dict[str, Any]:
    """Sent header fields in their wire form, references checked; computed keys are dropped."""
    body = {key: value for key, value in header.items() if key not in COMPUTED_KEYS}
    fields = coerce_fields(body, kind.coercers)
    for key, object_name in kind.references.items():
        if body.get(key) is not None:
            fields[key] = existing_reference(account, key, body[key], object_name)
    if body.get("taxRule") is not None:
        # Unknown rule ids are refused by money.check_revenue_rule, with the positions' rates.
        fields["taxRule"] = ref("TaxRule", parse_ref("taxRule", body["taxRule"], "TaxRule"))
    if "origin" in body:
        fields["origin"] = _origin(account, kind, body["origin"])
    for key in kind.dates:
        if key in body:
            fields[key] = None if body[key] in (None, "") else document_date(key, body[key])
    if fields.get("status") is not None and fields["status"] not in kind.statuses:
        raise invalid(f"{kind.name}: status must be one of {', '.join(sorted(kind.statuses, key=int))}")
    if kind.type_key in fields and fields[kind.type_key] not in kind.types:
        raise invalid(f"{kind.type_key} must be one of {', '.join(sorted(kind.types))}")
    return fields


def check_header(kind: DocumentKind, fields: Mapping[str, Any], rates: list[Decimal]) -> None:
    """What must hold for the document as it will be stored: required fields and the tax rule."""
    require(fields, kind.name, [key for key in kind.required if key not in ("objectName", "mapAll")])
    rule_id = int(fields["taxRule"]["id"])
    money.check_revenue_rule(rule_id, rates, small_settlement=fields.get("smallSettlement") == "1")


# --- shared: positions ------------------------------------------------------------------------------


def _whole_number(name: str, value: Any) -> int | None:
    rendered = integer_text(name, value)
    return None if rendered is None else int(rendered)


_POSITION_COERCERS: dict[str, Coercer] = {
    "name": text,
    "text": text,
    "positionNumber": _whole_number,
    "optional": flag,
}


@dataclass
class PositionChange:
    """One ``*PosSave`` item: a new position (``record`` None) or a change to a stored one."""

    record: Record | None
    fields: dict[str, Any]  # wire fields to set
    amounts: dict[str, Decimal | None]  # all exact amounts the position will have

    @property
    def tax_rate(self) -> Decimal:
        rate = self.amounts["taxRate"]
        assert rate is not None  # _parse_position insists on it
        return rate


@dataclass
class PositionPlan:
    """The position changes of one save, validated before anything is stored."""

    saves: list[PositionChange]
    deletions: list[Record]
    kept: list[Record]  # stored positions the save leaves alone

    def tax_rates(self) -> list[Decimal]:
        return [p.meta["taxRate"] for p in self.kept] + [change.tax_rate for change in self.saves]


def positions_of(account: Account, kind: DocumentKind, document_id: int) -> list[Record]:
    wanted = str(document_id)
    return [p for p in account.table(kind.position_name).values() if p.fields[kind.key]["id"] == wanted]


def _parse_position(
    account: Account, kind: DocumentKind, item: Any, previous: Record | None
) -> PositionChange:
    if not isinstance(item, dict):
        raise invalid(f"{kind.save_key} expected array of {kind.position_name}, {json_type(item)} given")
    if item.get("objectName", kind.position_name) != kind.position_name:
        raise invalid(f"{kind.save_key}: objectName must be '{kind.position_name}'")
    if previous is None:
        require(item, kind.position_name, kind.position_required)
    skipped = _POSITION_COMPUTED_KEYS | set(_AMOUNTS) | {kind.key}
    fields = coerce_fields({k: v for k, v in item.items() if k not in skipped}, _POSITION_COERCERS)
    if "unity" in item:
        fields["unity"] = existing_reference(account, "unity", item["unity"], "Unity")
    if "part" in item:
        part = item["part"]
        fields["part"] = None if part is None else existing_reference(account, "part", part, "Part")
    amounts: dict[str, Decimal | None] = (
        dict(previous.meta) if previous else {"price": None, "discount": None}
    )
    for key in _AMOUNTS:
        if key in item:
            exact = decimal_text(key, item[key])
            amounts[key] = None if exact is None else Decimal(exact)
    for key in ("quantity", "taxRate"):
        if amounts.get(key) is None:
            raise invalid(f"{kind.position_name}: {key} must not be empty")
    return PositionChange(previous, fields, amounts)


def plan_positions(
    account: Account, kind: DocumentKind, body: Mapping[str, Any], document: Record | None
) -> PositionPlan:
    existing = {p.id: p for p in positions_of(account, kind, document.id)} if document else {}
    deletions: dict[int, Record] = {}
    for item in _item_list(body, kind.delete_key):
        position_id = parse_ref(kind.delete_key, item, kind.position_name)
        if position_id not in existing:
            raise invalid(f"{kind.delete_key}: {kind.position_name} {position_id} is not on this {kind.name}")
        deletions[position_id] = existing[position_id]
    saves: list[PositionChange] = []
    changed: set[int] = set()
    for item in _item_list(body, kind.save_key):
        previous = None
        if isinstance(item, dict) and item.get("id") is not None:
            position_id = parse_id(kind.save_key, item["id"])
            previous = existing.get(position_id)
            if previous is None or position_id in deletions or position_id in changed:
                message = f"{kind.position_name} {position_id} is not on this {kind.name}"
                raise invalid(f"{kind.save_key}: {message}")
            changed.add(position_id)
        saves.append(_parse_position(account, kind, item, previous))
    kept = [p for i, p in existing.items() if i not in deletions and i not in changed]
    return PositionPlan(saves, list(deletions.values()), kept)


def _position_defaults(kind: DocumentKind) -> dict[str, Any]:
    defaults: dict[str, Any] = dict.fromkeys(("part", "name", "unity", "positionNumber", "text"))
    if kind.optional_positions:
        defaults["optional"] = "0"
    return defaults


def apply_positions(account: Account, kind: DocumentKind, document: Record, plan: PositionPlan) -> None:
    for position in plan.deletions:
        account.delete(kind.position_name, position.id)
    for change in plan.saves:
        if change.record is None:
            fields = {kind.key: ref(kind.name, document.id), **_position_defaults(kind), **change.fields}
            account.insert(kind.position_name, fields, dict(change.amounts))
        else:
            change.record.meta.update(change.amounts)
            account.update(change.record, change.fields)


def copy_position(
    account: Account, kind: DocumentKind, position: Record, document: Record, *, sign: int
) -> None:
    """A copy of ``position`` on ``document``, its quantity multiplied by ``sign`` (cancellations)."""
    kept = {key: value for key, value in position.fields.items() if key not in _POSITION_COMPUTED_KEYS}
    fields = copy.deepcopy(kept)
    fields[kind.key] = ref(kind.name, document.id)
    amounts = dict(position.meta)
    amounts["quantity"] = amounts["quantity"] * sign
    account.insert(kind.position_name, fields, amounts)


# --- shared: totals ---------------------------------------------------------------------------------


def _position_figures(amounts: Mapping[str, Decimal | None], gross_prices: bool) -> dict[str, Any]:
    """A position's computed wire fields, plus its exact net and gross under ``_net``/``_gross``."""
    quantity, rate = amounts["quantity"], amounts["taxRate"]
    assert quantity is not None  # _parse_position insists on both
    assert rate is not None
    price = amounts["price"] or Decimal(0)
    discount = amounts["discount"]
    # The same arithmetic (price x quantity less the discount, to the cent) on gross or net prices.
    total = money.position_net(price, quantity, discount)
    if gross_prices:
        gross, net = total, money.net_from_gross(total, rate)
        tax = gross - net
        unit_gross = price
        unit_net = money.cents(price * money.HUNDRED / (money.HUNDRED + rate))
    else:
        net, tax = total, money.cents(total * rate / money.HUNDRED)
        gross = net + tax
        unit_net = price
        unit_gross = money.cents(price * (money.HUNDRED + rate) / money.HUNDRED)
    n = money.wire_number
    return {
        "quantity": n(quantity),
        "price": None if amounts["price"] is None else n(price),
        "discount": n(discount or Decimal(0)),
        "isPercentage": True,
        "taxRate": f"{rate:.2f}",
        "priceNet": n(unit_net),
        "priceTax": n(unit_gross - unit_net),
        "priceGross": n(unit_gross),
        "sumNet": n(net),
        "sumTax": n(tax),
        "sumGross": n(gross),
        "sumDiscount": n(money.cents(price * quantity) - total),
        "_net": net,
        "_gross": gross,
    }


def refresh_sums(account: Account, kind: DocumentKind, document: Record) -> list[Record]:
    """Recompute every position and the document totals; returns the document's positions."""
    positions = positions_of(account, kind, document.id)
    gross_prices = document.fields.get("showNet") != "1"
    counted: list[tuple[Decimal, Decimal]] = []
    for position in positions:
        figures = _position_figures(position.meta, gross_prices)
        net, gross = figures.pop("_net"), figures.pop("_gross")
        if any(position.fields.get(key) != value for key, value in figures.items()):
            account.update(position, figures)  # recomputed figures are a change like any other
        if kind.optional_positions and position.fields.get("optional") == "1":
            continue
        counted.append((gross if gross_prices else net, position.meta["taxRate"]))
    per_position = account.tax_rounding == "per_position"
    totals = money.gross_document_sums if gross_prices else money.document_sums
    sums = totals(counted, per_position=per_position)
    suffixes = ("", "Accounting") if kind.accounting_sums else ("",)
    wire = {"sumNet": sums.net, "sumTax": sums.tax, "sumGross": sums.gross}
    changes = {f"{key}{suffix}": money.wire_decimal(v) for key, v in wire.items() for suffix in suffixes}
    if any(document.fields.get(key) != value for key, value in changes.items()):
        account.update(document, changes)
    return positions


def zero_sums(kind: DocumentKind) -> dict[str, str]:
    """The totals fields of a document without positions (refresh_sums fills them in)."""
    totals = ("sumNet", "sumTax", "sumGross", "sumDiscounts")
    fields = {f"{total}{suffix}": "0" for total in totals for suffix in ("", "ForeignCurrency")}
    if kind.accounting_sums:
        fields.update({f"{total}Accounting": "0" for total in totals[:3]})
    return fields


# --- shared: saving, sending, PDFs ------------------------------------------------------------------


def save_document(
    account: Account, kind: DocumentKind, body: dict[str, Any], extra_check: ExtraCheck = _no_extra_check
) -> web.Response:
    """``POST /X/Factory/saveX``: create or update a draft with its positions, all or nothing."""
    header = document_header(kind, body)
    document: Record | None = None
    if header.get("id") is None:
        require(header, kind.name, kind.required)
        changes = {**kind.defaults, **zero_sums(kind), **header_changes(account, kind, header)}
        fields = changes
    else:
        document = get_record(account, kind.name, parse_id(kind.key, header["id"]))
        if document.fields["status"] != DRAFT:
            raise not_a_draft(kind)
        changes = header_changes(account, kind, header)
        fields = {**document.fields, **changes}
    plan = plan_positions(account, kind, body, document)
    check_header(kind, fields, plan.tax_rates())
    extra = extra_check(account, body, fields, document)
    changes.update(extra)
    if document is None:
        changes["createUser"] = api_user(account)
        document = account.insert(kind.name, changes)
        status = 201
    else:
        account.update(document, changes)
        status = 200
    apply_positions(account, kind, document, plan)
    positions = refresh_sums(account, kind, document)
    return ok({kind.key: document.render(), kind.answer_key: [p.render() for p in positions]}, status=status)


def update_draft_header(account: Account, kind: DocumentKind, document: Record, body: dict[str, Any]) -> None:
    """``PUT /X/{id}`` on a draft: change header fields, keep the positions, recompute the totals."""
    changes = header_changes(account, kind, body)
    positions = positions_of(account, kind, document.id)
    check_header(kind, {**document.fields, **changes}, [p.meta["taxRate"] for p in positions])
    account.update(document, changes)
    refresh_sums(account, kind, document)


def delete_draft(account: Account, kind: DocumentKind, document: Record) -> None:
    if document.fields["status"] != DRAFT:
        raise not_a_draft(kind)
    for position in positions_of(account, kind, document.id):
        account.delete(kind.position_name, position.id)
    forget_relations(account, kind.name, document.id)
    account.delete(kind.name, document.id)


async def read_send_by(request: web.Request) -> tuple[str, bool]:
    """``{sendType, sendDraft}`` of a ``sendBy`` call (both required by the spec)."""
    body = await read_body(request)
    send_type = body.get("sendType")
    if send_type not in SEND_TYPES:
        raise invalid(f"sendType must be one of {', '.join(sorted(SEND_TYPES))}")
    if body.get("sendDraft") is None:
        raise invalid("sendDraft is required")
    return str(send_type), flag("sendDraft", body["sendDraft"]) == "1"


def pdf_answer(filename: str, title: str) -> web.Response:
    """A stand-in PDF in the JSON shape of ``getPdf`` (base64 content)."""
    content = f"%PDF-1.4\n% sevsync sandbox: {title}\n%%EOF\n".encode()
    return ok(
        {
            "filename": filename,
            "mimeType": "application/pdf",
            "content": base64.b64encode(content).decode("ascii"),
            "base64encoded": True,
        }
    )


def filter_documents(
    request: web.Request, records: list[Record], exact_keys: tuple[str, ...]
) -> list[Record]:
    """The list filters documents share: exact header fields, ``contact[id]``, create/update stamps."""
    query = request.query
    records = filter_by_time(request, records)
    for key in exact_keys:
        if (wanted := query.get(key)) is not None:
            records = [r for r in records if r.fields.get(key) == wanted]
    if (contact_id := query.get("contact[id]")) is not None:
        records = [r for r in records if (r.fields.get("contact") or {}).get("id") == contact_id]
    return records


def list_positions(request: web.Request, kind: DocumentKind) -> web.Response:
    """``GET /XPos`` with the optional ``x[id]`` and ``part[id]`` filters."""
    records = list(account_of(request).table(kind.position_name).values())
    for key in (kind.key, "part"):
        if (wanted := request.query.get(f"{key}[id]")) is not None:
            records = [r for r in records if (r.fields.get(key) or {}).get("id") == wanted]
    return page_records(request, records)


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
