"""A deal's document positions and the totals sevDesk must arrive at (CONTRACT section 5).

Pure and `Decimal` throughout: binary floats cannot hold cents, and sevsync compares its totals
with the ones sevDesk computes to the cent. Rounding is half-up (ties away from zero) at the two
places the contract names: each position's net, and each tax rate group's tax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final, Literal

from sevsync_events.payloads import AmountDiscount, Deal, PercentDiscount

__all__ = [
    "CENT",
    "InvalidAmounts",
    "Position",
    "PositionKind",
    "Totals",
    "amounts_totals",
    "cents",
    "compute_totals",
    "deal_positions",
    "split_amount",
]

CENT: Final = Decimal("0.01")
_ZERO: Final = Decimal("0.00")
_HUNDRED: Final = Decimal(100)
# Enough digits that quantity × price × discount factor is exact before it is rounded to cents
# (the payload limits allow products longer than the default context's 28 digits).
_PRECISION: Final = 60

PositionKind = Literal["line", "discount", "fee"]


def cents(x: Decimal) -> Decimal:
    """`x` rounded to the cent, ties away from zero (so -0.005 becomes -0.01)."""
    with localcontext(prec=_PRECISION):
        return x.quantize(CENT, rounding=ROUND_HALF_UP)


class InvalidAmounts(Exception):
    """The deal's amounts cannot make a valid document (e.g. a discount larger than the lines)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Position:
    """One position of an order or invoice, as sevsync will send it."""

    kind: PositionKind
    name: str
    text: str | None
    quantity: Decimal
    unit_price: Decimal  # net, per unit
    tax_rate: Decimal  # the rate actually sent, i.e. after the tax decision
    discount_percent: Decimal | None = None
    unit: str | None = None
    product_id: str | None = None

    @property
    def net(self) -> Decimal:
        """quantity × unit price × (1 − discount / 100), rounded to the cent."""
        with localcontext(prec=_PRECISION):
            amount = self.quantity * self.unit_price
            if self.discount_percent is not None:
                amount = amount * (_HUNDRED - self.discount_percent) / _HUNDRED
            return cents(amount)


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal
    # (rate, group net, group tax), ascending by rate.
    by_rate: tuple[tuple[Decimal, Decimal, Decimal], ...]


def _rate_text(rate: Decimal) -> str:
    """A percentage as printed on a German document: "19", "2,5"."""
    text = format(rate, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _whole_cents(amount: Decimal) -> int:
    if amount != cents(amount):
        raise InvalidAmounts(f"amount {amount} is not a whole number of cents")
    return int(amount.scaleb(2))


def split_amount(amount: Decimal, groups: Sequence[tuple[Decimal, Decimal]]) -> list[Decimal]:
    """Split `amount` over `groups` ((rate, net) pairs) in proportion to their nets, in whole cents.

    Each group first gets its share rounded down; the cents left over go one each to the groups
    with the largest remainders (ties: the larger group, then the higher rate), so the parts add
    up to `amount` exactly and none is more than a cent away from its exact share. Parts are
    returned in the order of `groups`.
    """
    total = sum((_whole_cents(net) for _, net in groups), 0)
    wanted = _whole_cents(amount)
    if wanted < 0:
        raise InvalidAmounts(f"amount discount {amount} is negative")
    if wanted > total:
        raise InvalidAmounts(f"amount discount {amount} is larger than the lines' net {total * CENT}")
    if wanted == 0:
        return [_ZERO for _ in groups]
    # Integer arithmetic keeps the shares and remainders exact (total > 0 here since wanted > 0).
    floors: list[int] = []
    remainders: list[int] = []
    for _, net in groups:
        floor, remainder = divmod(wanted * _whole_cents(net), total)
        floors.append(floor)
        remainders.append(remainder)
    leftover = wanted - sum(floors)
    order = sorted(
        range(len(groups)),
        key=lambda i: (-remainders[i], -groups[i][1], -groups[i][0]),
    )
    for i in order[:leftover]:
        floors[i] += 1
    return [floor * CENT for floor in floors]


def _discount_positions(
    discount: PercentDiscount | AmountDiscount, groups: Sequence[tuple[Decimal, Decimal]]
) -> list[Position]:
    if isinstance(discount, PercentDiscount):
        name = f"Rabatt {_rate_text(discount.value)} %"
        with localcontext(prec=_PRECISION):
            parts = [cents(net * discount.value / _HUNDRED) for _, net in groups]
    else:
        name = "Rabatt"
        parts = split_amount(discount.value, groups)
    return [
        Position(
            kind="discount",
            name=name,
            text=f"auf Positionen mit {_rate_text(rate)} % USt",
            quantity=Decimal(1),
            unit_price=-part,
            tax_rate=rate,
        )
        for (rate, _), part in zip(groups, parts, strict=True)
        # A group too small to carry a cent of the discount gets no (zero) position.
        if part != 0
    ]


def deal_positions(deal: Deal, rate_of: Callable[[Decimal], Decimal]) -> list[Position]:
    """The deal's positions in document order: lines, then discounts (one per rate), then fees.

    `rate_of` maps a line's rate to the rate sent (`TaxDecision.position_rate`); the discount is
    grouped by that effective rate, since that is how sevDesk groups the tax.
    """
    lines = [
        Position(
            kind="line",
            name=line.name,
            text=line.description,
            quantity=line.quantity,
            unit_price=line.unit_net_price,
            tax_rate=rate_of(line.tax_rate),
            discount_percent=line.discount_percent,
            unit=line.unit,
            product_id=line.product_id,
        )
        for line in deal.lines
    ]
    group_nets: dict[Decimal, Decimal] = {}
    for position in lines:
        group_nets[position.tax_rate] = group_nets.get(position.tax_rate, _ZERO) + position.net
    groups = sorted(group_nets.items())

    discounts = _discount_positions(deal.discount, groups) if deal.discount is not None else []
    fees = [
        Position(
            kind="fee",
            name=fee.name,
            text=None,
            quantity=Decimal(1),
            unit_price=fee.net_amount,
            tax_rate=rate_of(fee.tax_rate),
        )
        for fee in deal.fees
    ]
    return [*lines, *discounts, *fees]


def _totals(nets_and_rates: Iterable[tuple[Decimal, Decimal]]) -> Totals:
    group_nets: dict[Decimal, Decimal] = {}
    for net, rate in nets_and_rates:
        group_nets[rate] = group_nets.get(rate, _ZERO) + net
    with localcontext(prec=_PRECISION):
        # Tax is rounded once per rate group, not per position: that is how sevDesk sums a document.
        by_rate = tuple((rate, net, cents(net * rate / _HUNDRED)) for rate, net in sorted(group_nets.items()))
        net = sum((group_net for _, group_net, _ in by_rate), _ZERO)
        tax = sum((group_tax for _, _, group_tax in by_rate), _ZERO)
    return Totals(net=net, tax=tax, gross=net + tax, by_rate=by_rate)


def compute_totals(positions: Iterable[Position]) -> Totals:
    """sumNet, sumTax and sumGross of a document made of `positions`."""
    return _totals((position.net, position.tax_rate) for position in positions)


def amounts_totals(lines: Iterable[tuple[Decimal, Decimal]]) -> Totals:
    """Totals of (net amount, rate) lines, such as a voucher's; each net must be whole cents."""
    checked = []
    for net, rate in lines:
        _whole_cents(net)  # refuses fractions of a cent: they would silently shift the totals
        checked.append((net, rate))
    return _totals(checked)
