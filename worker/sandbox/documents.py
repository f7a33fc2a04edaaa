"""The document machinery orders and invoices share: the kind of a document, request values and
references, header fields, sending, PDFs and the list filters documents have in common.

Positions, totals and saving live in :mod:`sevsync.sandbox.document_saving`; the order resource in
:mod:`sevsync.sandbox.orders`, the invoice resource in :mod:`sevsync.sandbox.invoices`. Rules:

- References must exist: contact, contactPerson (SevUser), addressCountry (StaticCountry), each
  position's unity and part.
- Dates are accepted as ``dd.mm.yyyy``, ISO date or Unix seconds and come back as Berlin midnight.
- Only drafts (status 100) can be saved or deleted: HTTP 409 with sevDesk code 159 otherwise.
"""

from __future__ import annotations

import base64
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
from .timestamps import filter_by_time
from .wire import (
    Coercer,
    coerce_fields,
    flag,
    ok,
    parse_ref,
    read_body,
    require,
)

DRAFT = "100"
SENT = "200"
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
_STATIC_TABLES = {"StaticCountry": STATIC_COUNTRIES, "Unity": UNITIES}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")

# (account, request body, header fields after the change, stored document or None) -> extra changes
ExtraCheck = Callable[[Account, dict[str, Any], dict[str, Any], Record | None], dict[str, Any]]


def no_extra_check(
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


def item_list(body: Mapping[str, Any], key: str) -> list[Any]:
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
