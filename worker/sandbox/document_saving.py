"""Positions, totals and saving of the factory-saved documents (orders and invoices).

- ``*PosSave`` items with an ``id`` change a stored position, those without add one; ``*PosDelete``
  must be an array of ``{id, objectName}`` references. Referencing a part does not fill a
  position's name or price. Everything is validated before anything is stored.
- The positions' tax rates must fit ``taxRule`` and ``smallSettlement`` (422, see money.py).
- sevDesk computes all totals: positions carry JSON numbers (``"sumNet": 30``), the document strings
  (``"sumNet": "55"``). ``showNet`` decides whether ``price`` is net or gross; its default is not
  documented and the sandbox then reads prices as gross, so a client that forgets it notices.
  Optional order positions are left out of the totals. Recomputed figures move ``update``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from . import money
from .documents import (
    DRAFT,
    DocumentKind,
    ExtraCheck,
    api_user,
    check_header,
    document_header,
    existing_reference,
    header_changes,
    item_list,
    json_type,
    no_extra_check,
    not_a_draft,
)
from .errors import invalid
from .store import Account, Record, ref
from .tags import forget_relations
from .wire import (
    Coercer,
    account_of,
    coerce_fields,
    decimal_text,
    flag,
    get_record,
    integer_text,
    ok,
    page_records,
    parse_id,
    parse_ref,
    require,
    text,
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
    for item in item_list(body, kind.delete_key):
        position_id = parse_ref(kind.delete_key, item, kind.position_name)
        if position_id not in existing:
            raise invalid(f"{kind.delete_key}: {kind.position_name} {position_id} is not on this {kind.name}")
        deletions[position_id] = existing[position_id]
    saves: list[PositionChange] = []
    changed: set[int] = set()
    for item in item_list(body, kind.save_key):
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
    account: Account, kind: DocumentKind, body: dict[str, Any], extra_check: ExtraCheck = no_extra_check
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


def list_positions(request: web.Request, kind: DocumentKind) -> web.Response:
    """``GET /XPos`` with the optional ``x[id]`` and ``part[id]`` filters."""
    records = list(account_of(request).table(kind.position_name).values())
    for key in (kind.key, "part"):
        if (wanted := request.query.get(f"{key}[id]")) is not None:
            records = [r for r in records if (r.fields.get(key) or {}).get("id") == wanted]
    return page_records(request, records)
