"""Sums and tax-rule checks shared by the sandbox's documents (orders, invoices, vouchers).

sevDesk computes a document's totals itself; the sandbox does it the way sevsync's contract
assumes sevDesk does (CONTRACT section 5): each position's net rounded half-up to the cent, tax per
tax rate group, rounded half-up. ``Account.tax_rounding = "per_position"`` switches to rounding the
tax of every position instead, so tests can provoke a totals mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .errors import invalid

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

# Position tax rates each revenue-side tax rule (sevDesk Update 2.0) accepts.
REVENUE_RULE_RATES: dict[int, frozenset[Decimal]] = {
    1: frozenset({Decimal(0), Decimal(7), Decimal(19)}),
    2: frozenset({Decimal(0)}),
    3: frozenset({Decimal(0), Decimal(7), Decimal(19)}),
    4: frozenset({Decimal(0)}),
    5: frozenset({Decimal(0)}),
    11: frozenset({Decimal(0)}),
    17: frozenset({Decimal(0)}),
    21: frozenset({Decimal(0)}),
}
# Rules sevDesk refuses on vouchers (One-Stop-Shop and §18b reverse charge).
RULES_NOT_FOR_VOUCHERS = frozenset({18, 19, 20, 21})
SMALL_BUSINESS_RULE = 11


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def wire_decimal(value: Decimal) -> str:
    """A sum as sevDesk renders it: a string without trailing zeros (``"55"``, ``"261.8"``)."""
    normalized = value.normalize()
    if normalized == normalized.to_integral():
        return str(normalized.quantize(Decimal(1)))
    return format(normalized, "f")


def position_net(price: Decimal, quantity: Decimal, discount_percent: Decimal | None = None) -> Decimal:
    net = price * quantity
    if discount_percent:
        net = net * (HUNDRED - discount_percent) / HUNDRED
    return cents(net)


@dataclass(frozen=True)
class Sums:
    net: Decimal
    tax: Decimal
    gross: Decimal


def document_sums(positions: Iterable[tuple[Decimal, Decimal]], *, per_position: bool = False) -> Sums:
    """Totals of (net, tax rate) positions whose nets are already rounded to the cent."""
    groups: dict[Decimal, list[Decimal]] = {}
    for net, rate in positions:
        groups.setdefault(rate, []).append(net)
    net_total = sum((sum(nets, Decimal(0)) for nets in groups.values()), Decimal(0))
    if per_position:
        tax = sum((cents(n * r / HUNDRED) for r, nets in groups.items() for n in nets), Decimal(0))
    else:
        tax = sum((cents(sum(nets, Decimal(0)) * r / HUNDRED) for r, nets in groups.items()), Decimal(0))
    return Sums(net_total, tax, net_total + tax)


def check_revenue_rule(rule_id: int, rates: Iterable[Decimal], *, small_settlement: bool) -> None:
    """422 when the positions' rates do not fit the document's tax rule, as sevDesk answers."""
    allowed = REVENUE_RULE_RATES.get(rule_id)
    if allowed is None:
        raise invalid(f"taxRule {rule_id} is not valid for this document")
    for rate in rates:
        if rate not in allowed:
            raise invalid(f"Tax rate {rate} is not allowed with taxRule {rule_id}")
    if rule_id == SMALL_BUSINESS_RULE and not small_settlement:
        raise invalid("taxRule 11 (Kleinunternehmer) requires smallSettlement")
    if rule_id != SMALL_BUSINESS_RULE and small_settlement:
        raise invalid("smallSettlement is only possible with taxRule 11")


def net_from_gross(gross: Decimal, rate: Decimal) -> Decimal:
    """The net of a gross amount at ``rate`` percent, rounded half-up to the cent."""
    return cents(gross * HUNDRED / (HUNDRED + rate))


def wire_number(value: Decimal) -> int | float:
    """An amount rendered as a JSON number, as sevDesk renders ``paidAmount``, transaction amounts
    and invoice position sums: whole amounts as integers (``119``), others as floats (``261.8``)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def gross_document_sums(positions: Iterable[tuple[Decimal, Decimal]], *, per_position: bool = False) -> Sums:
    """Totals of (gross, tax rate) positions whose grosses are already rounded to the cent.

    The gross total is kept exactly as given; per tax rate the net is derived from the group's gross
    (or, ``per_position``, summed from each position's derived net) and the tax is the difference.
    """
    groups: dict[Decimal, list[Decimal]] = {}
    for gross, rate in positions:
        groups.setdefault(rate, []).append(gross)
    net_total = Decimal(0)
    gross_total = Decimal(0)
    for rate, grosses in groups.items():
        group_gross = sum(grosses, Decimal(0))
        if per_position:
            net_total += sum((net_from_gross(g, rate) for g in grosses), Decimal(0))
        else:
            net_total += net_from_gross(group_gross, rate)
        gross_total += group_gross
    return Sums(net_total, gross_total - net_total, gross_total)
