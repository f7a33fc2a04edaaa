"""``/Voucher`` and ``/VoucherPos``: receipts (Belege), created and changed through saveVoucher.

``POST /Voucher/Factory/saveVoucher`` takes ``{voucher, voucherPosSave, voucherPosDelete, filename}``
and answers ``{"voucher": ..., "voucherPos": [...]}`` with HTTP 201, plus ``document`` when
``filename`` attaches an uploaded file (see :mod:`sevsync.sandbox.attachments`). Rules taken from
the real API:

- ``voucher`` and every position need ``objectName`` (``Voucher`` / ``VoucherPos``) and ``mapAll: true``.
- A voucher is created in status 50 (draft) or 100 (open) only. It names its counterparty, a
  ``supplier`` (a Contact) or a ``supplierName``; without either even a draft is a 422, as live
  accounts answered. With ``voucher.id`` saveVoucher updates a draft; a voucher in any other status
  answers HTTP 400 with code 90400 (reset it to draft first).
  Positions with an ``id`` are changed, those without are added, ``voucherPosDelete`` removes; the
  sums are recomputed over all positions the voucher then has.
- ``creditDebit`` is ``D`` (revenue, you sold) or ``C`` (expense, you bought). On accounts with
  sevdesk-Update 2.0 the voucher needs a ``taxRule`` and every position an ``accountDatev`` that
  ReceiptGuidance offers: the account must be of the voucher's receipt type (D: REVENUE, C: EXPENSE),
  allow the voucher's tax rule, and the rule must allow the position's rate there. The rules sevDesk
  keeps away from vouchers (One-Stop-Shop, §18b reverse charge) are refused. Each violation is a 422.
- Positions are all net (``net: true``, ``sumNet`` counts) or all gross (``sumGross`` counts); a mix
  is a 422. Net positions: tax per rate group (see :mod:`sevsync.sandbox.money`). Gross positions:
  the gross is kept, each rate group's net is derived from its gross (half-up) and the tax is the rest.
  Negative amounts are allowed (correcting vouchers).
- Sums are strings on the voucher and on positions (as the spec types them), ``paidAmount`` a number.
- ``PUT /Voucher/{id}`` changes simple fields of a draft (same 400/90400 otherwise) and never the
  status. ``resetToDraft`` sets 50 if nothing is paid (the sandbox asks for ``resetToOpen`` first,
  which unlinks the payments). ``PUT /Voucher/{id}/bookAmount`` books a payment on an open or
  partially paid voucher, never on a draft (422), see :mod:`sevsync.sandbox.banking`.
- ``GET /Voucher`` filters ``descriptionLike`` (case-insensitive substring), ``status``,
  ``creditDebit``, ``contact[id]`` (the supplier), ``costCentre[id]``, ``voucherType``,
  ``startDate``/``endDate`` (by voucherDate), the stamps (``updateAfter``, ...). ``GET /VoucherPos``
  filters ``voucher[id]``. Lists are paged like every list (see :func:`sevsync.sandbox.wire.page`).

Accounts on the legacy bookkeeping (1.0) skip the tax rule and booking account checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from .attachments import attach, attachable
from .banking import VOUCHER, book_amount, moment_of, parse_moment, query_moment, unlink_bookings
from .contacts import contact_reference
from .errors import ApiError, invalid
from .guidance import EXPENSE, REVENUE, TAX_RULES, booking_account
from .money import (
    HUNDRED,
    RULES_NOT_FOR_VOUCHERS,
    cents,
    document_sums,
    gross_document_sums,
    net_from_gross,
    wire_decimal,
)
from .store import Account, Record, berlin_iso, ref
from .timestamps import filter_by_time
from .wire import (
    API_PREFIX,
    Coercer,
    account_of,
    coerce_fields,
    decimal_text,
    flag,
    get_record,
    integer_text,
    ok,
    one,
    page_records,
    parse_id,
    parse_ref,
    path_id,
    read_body,
    text,
)

routes = web.RouteTableDef()

OBJECT_NAME = "Voucher"
POSITION = "VoucherPos"
DRAFT, OPEN = "50", "100"
CREATE_STATUSES = frozenset({DRAFT, OPEN})
CODE_NOT_DRAFT = 90400
RECEIPT_TYPES = {"D": REVENUE, "C": EXPENSE}
VOUCHER_TYPES = frozenset({"VOU", "RV"})


def document_date(name: str, value: Any) -> str | None:
    """A request date (timestamp, dd.mm.yyyy, ISO) stored the way sevDesk renders it."""
    if value is None or value == "":
        return None
    return berlin_iso(parse_moment(name, value))


_DATE_KEYS = (
    "voucherDate",
    "payDate",
    "paymentDeadline",
    "deliveryDate",
    "deliveryDateUntil",
    "propertyForeignCurrencyDeadline",
)

_COERCERS: dict[str, Coercer] = {
    **dict.fromkeys(
        ("description", "supplierName", "currency", "creditDebit", "voucherType", "taxType"), text
    ),
    **dict.fromkeys(_DATE_KEYS, document_date),
    "status": integer_text,
    "propertyExchangeRate": decimal_text,
}

# Values sevDesk computes or sets through other endpoints; a client echoing them back changes nothing.
_COMPUTED = frozenset(
    {
        "sumNet",
        "sumTax",
        "sumGross",
        "sumNetAccounting",
        "sumTaxAccounting",
        "sumGrossAccounting",
        "sumDiscounts",
        "sumDiscountsForeignCurrency",
        "paidAmount",
        "enshrined",
        "createUser",
        "document",
        "recurringInterval",
        "recurringStartDate",
        "recurringNextVoucher",
        "recurringLastVoucher",
        "recurringEndDate",
    }
)

_DEFAULTS: dict[str, Any] = {
    "voucherDate": None,
    "supplier": None,
    "supplierName": None,
    "description": None,
    "document": None,
    "payDate": None,
    "status": None,
    "sumNet": "0",
    "sumTax": "0",
    "sumGross": "0",
    "sumNetAccounting": "0",
    "sumTaxAccounting": "0",
    "sumGrossAccounting": "0",
    "sumDiscounts": "0",
    "sumDiscountsForeignCurrency": "0",
    "paidAmount": 0,
    "taxRule": None,
    "taxType": None,
    "taxSet": None,
    "creditDebit": None,
    "costCentre": None,
    "voucherType": "VOU",
    "currency": "EUR",
    "propertyForeignCurrencyDeadline": None,
    "propertyExchangeRate": None,
    "recurringInterval": None,
    "recurringStartDate": None,
    "recurringNextVoucher": None,
    "recurringLastVoucher": None,
    "recurringEndDate": None,
    "enshrined": None,
    "paymentDeadline": None,
    "deliveryDate": None,
    "deliveryDateUntil": None,
}


def _update_2(account: Account) -> bool:
    return account.bookkeeping_version == "2.0"


def _check_model(body: Any, label: str, object_name: str) -> dict[str, Any]:
    """The factory payload's object, which must name its model and set ``mapAll``."""
    if not isinstance(body, dict):
        raise invalid(f"{label} must be an object")
    if body.get("objectName") != object_name:
        raise invalid(f"{label}: objectName must be '{object_name}'")
    if flag(f"{label}.mapAll", body.get("mapAll")) != "1":
        raise invalid(f"{label}: mapAll must be true")
    return body


# --- the voucher itself -----------------------------------------------------------------------------


def _voucher_fields(account: Account, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The voucher's fields after applying ``body`` to ``current`` (None: a new voucher), validated."""
    changes = {k: v for k, v in coerce_fields(body, _COERCERS).items() if k not in _COMPUTED}
    fields = {**(current if current is not None else _DEFAULTS), **changes}
    if current is None and fields["status"] is None:
        raise invalid("Voucher: missing required field(s): status")
    if "status" in changes and changes["status"] not in CREATE_STATUSES:
        raise invalid("status must be 50 (draft) or 100 (open); other statuses follow from bookings")
    if fields["creditDebit"] not in RECEIPT_TYPES:
        raise invalid("creditDebit must be 'C' (expense) or 'D' (revenue)")
    if fields["voucherType"] is None:
        fields["voucherType"] = _DEFAULTS["voucherType"]
    if fields["voucherType"] not in VOUCHER_TYPES:
        raise invalid("voucherType must be 'VOU' or 'RV'")
    if "supplier" in body:
        supplier = body["supplier"]
        fields["supplier"] = None if supplier is None else contact_reference(account, "supplier", supplier)
    if body.get("costCentre") is not None:
        centre_id = parse_ref("costCentre", body["costCentre"], "CostCentre")
        if account.find("CostCentre", centre_id) is None:
            raise invalid(f"costCentre: no CostCentre with id {centre_id}")
        fields["costCentre"] = ref("CostCentre", centre_id)
    if body.get("taxRule") is not None:
        fields["taxRule"] = ref("TaxRule", parse_ref("taxRule", body["taxRule"], "TaxRule"))
    if _update_2(account):
        if fields["taxRule"] is None:
            raise invalid("Voucher: taxRule is required (sevdesk-Update 2.0)")
        rule_id = int(fields["taxRule"]["id"])
        if rule_id in RULES_NOT_FOR_VOUCHERS:
            raise invalid(f"taxRule {rule_id} cannot be used for vouchers")
    if fields["supplier"] is None and not fields["supplierName"]:
        # Live accounts refused it for drafts too (api-notes 15).
        raise invalid("Voucher: a supplier or a supplierName is required")
    return fields


# --- positions --------------------------------------------------------------------------------------


@dataclass
class _Position:
    """A position as the client described it (after merging with a stored one)."""

    record: Record | None
    account_datev: dict[str, str] | None
    accounting_type: Any
    rate: Decimal
    net: bool
    amount: Decimal  # sumNet of a net position, sumGross of a gross one
    comment: str | None
    is_asset: str


def _amount_of(label: str, body: Mapping[str, Any], net: bool, fallback: Decimal | None) -> Decimal:
    # Net positions count sumNet, gross ones sumGross; 'sum' stands in for either.
    key = "sumNet" if net else "sumGross"
    for candidate in (key, "sum"):
        value = decimal_text(f"{label}.{candidate}", body.get(candidate))
        if value is not None:
            return Decimal(value)
    if fallback is None:
        raise invalid(f"{label}: {key} is required for a {'net' if net else 'gross'} position")
    return fallback


def _stored(stored: dict[str, Any] | None, key: str) -> Any:
    return stored.get(key) if stored is not None else None


def _position(account: Account, label: str, body: dict[str, Any], record: Record | None) -> _Position:
    stored = record.fields if record is not None else None
    if "accountDatev" in body:
        datev_id = parse_ref(f"{label}.accountDatev", body["accountDatev"], "AccountDatev")
        account_datev: dict[str, str] | None = ref("AccountDatev", datev_id)
    else:
        account_datev = _stored(stored, "accountDatev")
    if account_datev is None and _update_2(account):
        raise invalid(f"{label}: accountDatev is required (sevdesk-Update 2.0)")
    rate_text = decimal_text(f"{label}.taxRate", body.get("taxRate"))
    if rate_text is None and stored is None:
        raise invalid(f"{label}: taxRate is required")
    rate = Decimal(rate_text if rate_text is not None else _stored(stored, "taxRate"))
    net_flag = flag(f"{label}.net", body.get("net"))
    if net_flag is None and record is None:
        raise invalid(f"{label}: net is required (true: sumNet counts, false: sumGross counts)")
    net = net_flag == "1" if net_flag is not None else bool(record and record.meta["net"])
    fallback = None
    if record is not None:
        fallback = Decimal(record.fields["sumNet" if net else "sumGross"])
    return _Position(
        record=record,
        account_datev=account_datev,
        accounting_type=body.get("accountingType", _stored(stored, "accountingType")),
        rate=rate,
        net=net,
        amount=_amount_of(label, body, net, fallback),
        comment=text(f"{label}.comment", body["comment"])
        if "comment" in body
        else _stored(stored, "comment"),
        is_asset=flag(f"{label}.isAsset", body.get("isAsset")) or _stored(stored, "isAsset") or "0",
    )


def _own_position(account: Account, label: str, value: Any, voucher: Record | None) -> Record:
    position_id = parse_id(label, value.get("id") if isinstance(value, Mapping) else value)
    record = account.find(POSITION, position_id)
    if voucher is None or record is None or record.fields["voucher"]["id"] != str(voucher.id):
        raise invalid(f"{label}: no VoucherPos with id {position_id} on this voucher")
    return record


def _planned_positions(
    account: Account, voucher: Record | None, save: Any, remove: Any
) -> tuple[list[_Position], list[Record]]:
    """The voucher's positions after the save (kept, changed and new) and the ones to delete."""
    if save is None:
        save = []
    if not isinstance(save, list):
        raise invalid("voucherPosSave must be a list of positions")
    if remove is None:
        remove = []
    elif not isinstance(remove, list):
        remove = [remove]  # the spec documents a single reference object here
    to_delete = {r.id: r for r in (_own_position(account, "voucherPosDelete", v, voucher) for v in remove)}
    changed: dict[int, _Position] = {}
    added: list[_Position] = []
    for index, item in enumerate(save):
        label = f"voucherPosSave[{index}]"
        body = _check_model(item, label, POSITION)
        record = _own_position(account, label, body["id"], voucher) if body.get("id") is not None else None
        if record is not None and record.id in to_delete:
            raise invalid(f"{label}: VoucherPos {record.id} is both saved and deleted")
        position = _position(account, label, body, record)
        if record is not None:
            changed[record.id] = position
        else:
            added.append(position)
    kept: list[_Position] = []
    if voucher is not None:
        for record in _positions_of(account, voucher):
            if record.id in to_delete:
                continue
            kept.append(changed.get(record.id) or _position(account, f"VoucherPos {record.id}", {}, record))
    return kept + added, list(to_delete.values())


def _positions_of(account: Account, voucher: Record) -> list[Record]:
    return [r for r in account.table(POSITION).values() if r.fields["voucher"]["id"] == str(voucher.id)]


def _check_positions(account: Account, fields: dict[str, Any], positions: list[_Position]) -> None:
    """The booking account, tax rule and rate checks of sevdesk-Update 2.0 (each a 422)."""
    if len({p.net for p in positions}) > 1:
        raise invalid("All positions of a voucher must be either net or gross (net: true/false), not mixed")
    if not _update_2(account):
        return
    credit_debit = fields["creditDebit"]
    receipt_type = RECEIPT_TYPES[credit_debit]
    rule_id = int(fields["taxRule"]["id"])
    rule_name = f"taxRule {rule_id}" + (f" ({TAX_RULES[rule_id].code})" if rule_id in TAX_RULES else "")
    for number, position in enumerate(positions, start=1):
        assert position.account_datev is not None  # _position() requires it on 2.0
        datev_id = int(position.account_datev["id"])
        entry = booking_account(account, datev_id)
        if entry is None:
            raise invalid(
                f"position {number}: accountDatev {datev_id} is not a booking account of this client "
                "(see ReceiptGuidance)"
            )
        booking = f"account {entry.number} ({entry.name})"
        if entry.receipt_type != receipt_type:
            raise invalid(
                f"position {number}: {booking} is an {entry.receipt_type} account and cannot be used on "
                f"a voucher with creditDebit {credit_debit} ({receipt_type})"
            )
        rates = entry.rates_for(rule_id)
        if rates is None:
            raise invalid(f"position {number}: {rule_name} is not allowed with {booking}")
        if position.rate not in rates:
            raise invalid(
                f"position {number}: tax rate {wire_decimal(position.rate)} is not allowed with "
                f"{rule_name} on {booking}"
            )


@dataclass(frozen=True)
class _Amounts:
    net: Decimal
    tax: Decimal
    gross: Decimal


def _position_amounts(position: _Position) -> _Amounts:
    if position.net:
        net = cents(position.amount)
        tax = cents(net * position.rate / HUNDRED)
        return _Amounts(net, tax, net + tax)
    gross = cents(position.amount)
    net = net_from_gross(gross, position.rate)
    return _Amounts(net, gross - net, gross)


def _sum_fields(account: Account, positions: list[_Position]) -> dict[str, str]:
    per_position = account.tax_rounding == "per_position"
    if positions and not positions[0].net:
        sums = gross_document_sums(((cents(p.amount), p.rate) for p in positions), per_position=per_position)
    else:
        sums = document_sums(((cents(p.amount), p.rate) for p in positions), per_position=per_position)
    net, tax, gross = wire_decimal(sums.net), wire_decimal(sums.tax), wire_decimal(sums.gross)
    return {
        "sumNet": net,
        "sumTax": tax,
        "sumGross": gross,
        "sumNetAccounting": net,
        "sumTaxAccounting": tax,
        "sumGrossAccounting": gross,
    }


def _position_fields(voucher: Record, position: _Position) -> dict[str, Any]:
    amounts = _position_amounts(position)
    net, tax, gross = wire_decimal(amounts.net), wire_decimal(amounts.tax), wire_decimal(amounts.gross)
    return {
        "voucher": ref(OBJECT_NAME, voucher.id),
        "accountDatev": position.account_datev,
        "accountingType": position.accounting_type,
        "estimatedAccountingType": None,
        "taxRate": wire_decimal(position.rate),
        "net": "1" if position.net else "0",
        "isAsset": position.is_asset,
        "sumNet": net,
        "sumTax": tax,
        "sumGross": gross,
        "sumNetAccounting": net,
        "sumTaxAccounting": tax,
        "sumGrossAccounting": gross,
        "comment": position.comment,
    }


def _save_positions(
    account: Account, voucher: Record, positions: list[_Position], delete: list[Record]
) -> None:
    for record in delete:
        account.delete(POSITION, record.id)
    for position in positions:
        fields = _position_fields(voucher, position)
        if position.record is None:
            account.insert(POSITION, fields, {"net": position.net})
        else:
            position.record.meta["net"] = position.net
            account.update(position.record, fields)


def _answer(
    account: Account, voucher: Record, *, status: int = 200, document: Record | None = None
) -> web.Response:
    positions = [r.render() for r in _positions_of(account, voucher)]
    objects: dict[str, Any] = {"voucher": voucher.render(), "voucherPos": positions}
    if document is not None:
        objects["document"] = document.render()
    return ok(objects, status=status)


def _not_a_draft(voucher: Record) -> ApiError:
    return ApiError(
        400,
        f"Voucher {voucher.id} is not a draft (status {voucher.fields['status']}); "
        "only drafts can be changed, reset it to draft first",
        code=CODE_NOT_DRAFT,
    )


# --- routes -----------------------------------------------------------------------------------------


@routes.post(f"{API_PREFIX}/Voucher/Factory/saveVoucher")
async def save_voucher(request: web.Request) -> web.Response:
    account = account_of(request)
    body = await read_body(request)
    voucher_body = _check_model(body.get("voucher"), "voucher", OBJECT_NAME)
    voucher: Record | None = None
    if voucher_body.get("id") is not None:
        voucher = get_record(account, OBJECT_NAME, parse_id("voucher", voucher_body["id"]))
        if voucher.fields["status"] != DRAFT:
            raise _not_a_draft(voucher)
    # Validate everything before writing anything: a refused save leaves no trace.
    fields = _voucher_fields(account, voucher_body, voucher.fields if voucher else None)
    positions, delete = _planned_positions(
        account, voucher, body.get("voucherPosSave"), body.get("voucherPosDelete")
    )
    _check_positions(account, fields, positions)
    temp_file = attachable(account, voucher, body.get("filename"))
    fields.update(_sum_fields(account, positions))
    if voucher is None:
        users = list(account.table("SevUser"))
        fields["createUser"] = ref("SevUser", users[0]) if users else None
        voucher = account.insert(OBJECT_NAME, fields)
    else:
        account.update(voucher, fields)
    _save_positions(account, voucher, positions, delete)
    if temp_file is None:
        return _answer(account, voucher, status=201)
    document = attach(account, voucher, temp_file)
    return _answer(account, voucher, status=201, document=document)


@routes.get(f"{API_PREFIX}/Voucher")
async def list_vouchers(request: web.Request) -> web.Response:
    query = request.query
    records = filter_by_time(request, list(account_of(request).table(OBJECT_NAME).values()))
    if (needle := query.get("descriptionLike")) is not None:
        records = [r for r in records if needle.lower() in str(r.fields.get("description") or "").lower()]
    for key in ("status", "creditDebit", "voucherType"):
        if (wanted := query.get(key)) is not None:
            records = [r for r in records if r.fields.get(key) == wanted]
    for key, field_name in (("contact", "supplier"), ("costCentre", "costCentre")):
        if (wanted := query.get(f"{key}[id]")) is not None:
            records = [r for r in records if (r.fields.get(field_name) or {}).get("id") == wanted]
    start, end = query_moment(request, "startDate"), query_moment(request, "endDate")
    if start is not None or end is not None:
        dated = [(r, moment_of(r.fields["voucherDate"])) for r in records if r.fields.get("voucherDate")]
        records = [r for r, at in dated if (start is None or at >= start) and (end is None or at <= end)]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/Voucher/{id:\d+}")
async def get_voucher(request: web.Request) -> web.Response:
    return one(get_record(account_of(request), OBJECT_NAME, path_id(request)).render())


@routes.get(f"{API_PREFIX}/VoucherPos")
async def list_voucher_positions(request: web.Request) -> web.Response:
    records = list(account_of(request).table(POSITION).values())
    if (voucher_id := request.query.get("voucher[id]")) is not None:
        records = [r for r in records if r.fields["voucher"]["id"] == voucher_id]
    return page_records(request, records)


@routes.put(API_PREFIX + r"/Voucher/{id:\d+}")
async def update_voucher(request: web.Request) -> web.Response:
    account = account_of(request)
    voucher = get_record(account, OBJECT_NAME, path_id(request))
    if voucher.fields["status"] != DRAFT:
        raise _not_a_draft(voucher)
    body = await read_body(request)
    status = integer_text("status", body.get("status"))
    if status is not None and status != voucher.fields["status"]:
        raise invalid("The status cannot be changed here; use saveVoucher, bookAmount or the reset endpoints")
    fields = _voucher_fields(account, {k: v for k, v in body.items() if k != "status"}, voucher.fields)
    positions, _ = _planned_positions(account, voucher, [], None)
    _check_positions(account, fields, positions)
    account.update(voucher, fields)
    return ok(voucher.render())


@routes.put(API_PREFIX + r"/Voucher/{id:\d+}/resetToDraft")
async def reset_to_draft(request: web.Request) -> web.Response:
    account = account_of(request)
    voucher = get_record(account, OBJECT_NAME, path_id(request))
    if Decimal(str(voucher.fields["paidAmount"] or 0)) != 0:
        raise invalid(f"Voucher {voucher.id} has payments; reset it to open first, which unlinks them")
    account.update(voucher, {"status": DRAFT})
    return ok(voucher.render())


@routes.put(API_PREFIX + r"/Voucher/{id:\d+}/resetToOpen")
async def reset_to_open(request: web.Request) -> web.Response:
    account = account_of(request)
    voucher = get_record(account, OBJECT_NAME, path_id(request))
    if voucher.fields["status"] == DRAFT:
        raise invalid(f"Voucher {voucher.id} is a draft; open it with saveVoucher (status 100)")
    unlink_bookings(account, voucher)
    account.update(voucher, {"status": OPEN, "paidAmount": 0, "payDate": None})
    return ok(voucher.render())


@routes.put(API_PREFIX + r"/Voucher/{id:\d+}/bookAmount")
async def book_voucher(request: web.Request) -> web.Response:
    account = account_of(request)
    voucher = get_record(account, OBJECT_NAME, path_id(request))
    return ok(book_amount(account, VOUCHER, voucher, await read_body(request)))
