"""Document positions and totals (pure): the contract's worked example, discount splitting, half-up
rounding (also of negatives), refused amounts, and properties over random deals."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevsync.sync.tax import TaxDecision, resolve_tax
from sevsync.sync.totals import (
    CENT,
    InvalidAmounts,
    Position,
    Totals,
    amounts_totals,
    cents,
    compute_totals,
    deal_positions,
    split_amount,
)
from sevsync_events.payloads import Deal

D = Decimal


def same_rate(rate: Decimal) -> Decimal:
    return rate


def deal(
    lines: list[dict[str, Any]],
    *,
    discount: dict[str, Any] | None = None,
    fees: list[dict[str, Any]] | None = None,
) -> Deal:
    return Deal.model_validate(
        {
            "id": "deal-42",
            "number": "D-2026-0042",
            "customer": {"id": "cust-1", "kind": "company", "company_name": "XYZ Design"},
            "currency": "EUR",
            "date": "2026-11-20",
            "lines": lines,
            "discount": discount,
            "fees": fees or [],
        }
    )


def line(
    quantity: str, price: str, rate: str, discount_percent: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "Item"),
        "quantity": quantity,
        "unit_net_price": price,
        "tax_rate": rate,
        "discount_percent": discount_percent,
        **extra,
    }


def discounts(positions: list[Position]) -> dict[Decimal, Decimal]:
    """rate -> discount amount (positive) of the document discount positions."""
    found: dict[Decimal, Decimal] = {}
    for position in positions:
        if position.kind == "discount":
            assert position.tax_rate not in found, "one discount position per rate"
            found[position.tax_rate] = -position.net
    return found


# --- cents ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("-0.005", "-0.01"),  # ties go away from zero, not towards +infinity
        ("2.675", "2.68"),
        ("-2.675", "-2.68"),
        ("1.004", "1.00"),
        ("-1.004", "-1.00"),
        ("-1.0049999", "-1.00"),
        ("7", "7.00"),
    ],
)
def test_cents_rounds_half_up_away_from_zero(value: str, expected: str) -> None:
    result = cents(D(value))
    assert result == D(expected)
    assert str(result) == expected  # exactly two places, never an exponent


# --- the contract's deal example ------------------------------------------------------------------


def contract_deal() -> Deal:
    return deal(
        [
            line(
                "10",
                "120.00",
                "19",
                "10",
                name="Consulting hour",
                product_id="prod-7",
                unit="hour",
                description="Senior consultant",
            )
        ],
        discount={"type": "percent", "value": "5"},
        fees=[{"name": "Travel", "net_amount": "80.00", "tax_rate": "19"}],
    )


def test_contract_deal_positions() -> None:
    consulting, discount, travel = deal_positions(contract_deal(), same_rate)

    # 10 × 120.00 = 1200.00, less 10 % = 1080.00
    assert consulting == Position(
        kind="line",
        name="Consulting hour",
        text="Senior consultant",
        quantity=D(10),
        unit_price=D("120.00"),
        tax_rate=D(19),
        discount_percent=D(10),
        unit="hour",
        product_id="prod-7",
    )
    assert consulting.net == D("1080.00")

    # 5 % of the 19 % group's 1080.00 = 54.00; the travel fee is not discounted.
    assert (discount.kind, discount.name, discount.text) == (
        "discount",
        "Rabatt 5 %",
        "auf Positionen mit 19 % USt",
    )
    assert (discount.quantity, discount.unit_price, discount.tax_rate) == (D(1), D("-54.00"), D(19))
    assert discount.net == D("-54.00")

    assert (travel.kind, travel.name, travel.text) == ("fee", "Travel", None)
    assert (travel.quantity, travel.unit_price, travel.tax_rate, travel.net) == (
        D(1),
        D("80.00"),
        D(19),
        D("80.00"),
    )


def test_contract_deal_totals() -> None:
    totals = compute_totals(deal_positions(contract_deal(), same_rate))
    # net 1080.00 - 54.00 + 80.00 = 1106.00; tax 19 % of 1106.00 = 210.14; gross 1316.14
    assert totals == Totals(
        net=D("1106.00"),
        tax=D("210.14"),
        gross=D("1316.14"),
        by_rate=((D(19), D("1106.00"), D("210.14")),),
    )


def test_contract_deal_under_a_zero_rated_rule() -> None:
    decision = resolve_tax(
        small_business=True,
        small_business_until=None,
        default_tax_type="standard",
        document_date=contract_deal().date,
        tax_type=None,
        customer_country="DE",
        customer_vat_id=None,
        line_rates=[D(19)],
        kind="invoice",
    )
    positions = deal_positions(contract_deal(), decision.position_rate)
    assert {p.tax_rate for p in positions} == {0}
    assert compute_totals(positions) == Totals(
        net=D("1106.00"), tax=D("0.00"), gross=D("1106.00"), by_rate=((D(0), D("1106.00"), D("0.00")),)
    )


# --- document discounts ---------------------------------------------------------------------------


def test_amount_discount_split_over_7_and_19_percent() -> None:
    lines = [line("1", "100.00", "7", name="Book"), line("2", "100.00", "19", name="Course")]
    positions = deal_positions(deal(lines, discount={"type": "amount", "value": "10.00"}), same_rate)

    # Exact shares 3.333… and 6.666…: 3.33 + 6.66 leaves one cent, which goes to the larger
    # remainder (the 19 % group's .666…).
    assert discounts(positions) == {D(7): D("3.33"), D(19): D("6.67")}
    assert [(p.name, p.text) for p in positions if p.kind == "discount"] == [
        ("Rabatt", "auf Positionen mit 7 % USt"),
        ("Rabatt", "auf Positionen mit 19 % USt"),
    ]
    # 7 %: 96.67 → 6.7669 → 6.77; 19 %: 193.33 → 36.7327 → 36.73
    assert compute_totals(positions) == Totals(
        net=D("290.00"),
        tax=D("43.50"),
        gross=D("333.50"),
        by_rate=((D(7), D("96.67"), D("6.77")), (D(19), D("193.33"), D("36.73"))),
    )


def test_leftover_cent_tie_goes_to_the_larger_group() -> None:
    # 0.02 over 100.00 (19 %) and 300.00 (7 %): shares 0.005 and 0.015, equal remainders.
    assert split_amount(D("0.02"), [(D(7), D("300.00")), (D(19), D("100.00"))]) == [D("0.02"), D("0.00")]


def test_leftover_cent_tie_of_equal_groups_goes_to_the_higher_rate() -> None:
    lines = [line("1", "100.00", "19"), line("1", "100.00", "7")]
    positions = deal_positions(deal(lines, discount={"type": "amount", "value": "0.01"}), same_rate)
    # Half a cent each: the 19 % group gets the cent, the 7 % group no (zero) position.
    assert discounts(positions) == {D(19): D("0.01")}


def test_split_amount_largest_remainders_over_three_groups() -> None:
    groups = [(D(0), D("1.00")), (D(7), D("1.00")), (D(19), D("1.00"))]
    # 1.00 / 3 = 0.333… each: one leftover cent, equal remainders and groups, so the highest rate.
    assert split_amount(D("1.00"), groups) == [D("0.33"), D("0.33"), D("0.34")]
    assert split_amount(D("0.02"), groups) == [D("0.00"), D("0.01"), D("0.01")]


def test_amount_discount_may_equal_the_lines_net() -> None:
    lines = [line("1", "40.00", "7"), line("3", "20.00", "19")]
    positions = deal_positions(deal(lines, discount={"type": "amount", "value": "100.00"}), same_rate)
    assert discounts(positions) == {D(7): D("40.00"), D(19): D("60.00")}
    assert compute_totals(positions).gross == D("0.00")


def test_amount_discount_larger_than_the_lines_is_refused() -> None:
    lines = [line("1", "40.00", "7")]
    # The fee does not count: the discount applies to lines only.
    fees = [{"name": "Shipping", "net_amount": "500.00", "tax_rate": "19"}]
    with pytest.raises(InvalidAmounts, match=r"amount discount 40\.01 is larger than the lines' net 40\.00"):
        deal_positions(deal(lines, discount={"type": "amount", "value": "40.01"}, fees=fees), same_rate)


def test_amount_discount_on_free_lines_is_refused() -> None:
    with pytest.raises(InvalidAmounts):
        deal_positions(
            deal([line("1", "0.00", "19")], discount={"type": "amount", "value": "0.01"}), same_rate
        )


def test_split_amount_refuses_fractions_of_a_cent() -> None:
    with pytest.raises(InvalidAmounts, match="not a whole number of cents"):
        split_amount(D("1.005"), [(D(19), D("10.00"))])


@pytest.mark.parametrize("discount", [{"type": "percent", "value": "0"}, {"type": "amount", "value": "0.00"}])
def test_zero_discounts_make_no_positions(discount: dict[str, Any]) -> None:
    positions = deal_positions(deal([line("1", "10.00", "19")], discount=discount), same_rate)
    assert [p.kind for p in positions] == ["line"]


def test_percent_discount_per_rate_group_rounds_half_up() -> None:
    lines = [line("1", "10.10", "7"), line("1", "0.10", "19"), line("1", "0.09", "19")]
    positions = deal_positions(deal(lines, discount={"type": "percent", "value": "2.5"}), same_rate)
    # 7 %: 2.5 % of 10.10 = 0.2525 → 0.25; 19 %: 2.5 % of 0.19 = 0.00475 → 0.00 (no position)
    assert discounts(positions) == {D(7): D("0.25")}
    assert positions[-1].name == "Rabatt 2,5 %"


def test_percent_discount_ignores_fees() -> None:
    fees = [{"name": "Travel", "net_amount": "80.00", "tax_rate": "19"}]
    positions = deal_positions(
        deal([line("1", "100.00", "7")], discount={"type": "percent", "value": "10"}, fees=fees), same_rate
    )
    assert discounts(positions) == {D(7): D("10.00")}
    assert [p.kind for p in positions] == ["line", "discount", "fee"]


# --- line nets and totals -------------------------------------------------------------------------


def test_fractional_quantity_and_line_discount_round_half_up() -> None:
    # 2.5 × 0.99 = 2.475 → 2.48
    assert Position("line", "x", None, D("2.5"), D("0.99"), D(19)).net == D("2.48")
    # 3 × 33.33 × 0.875 = 87.49125 → 87.49 ; 1 × 0.01 × 0.5 = 0.005 → 0.01
    assert Position("line", "x", None, D(3), D("33.33"), D(19), discount_percent=D("12.5")).net == D("87.49")
    assert Position("line", "x", None, D(1), D("0.01"), D(7), discount_percent=D(50)).net == D("0.01")


def test_huge_amounts_stay_exact() -> None:
    # Beyond the default 28-digit context: quantity and price at their payload limits.
    position = Position("line", "x", None, D("999999999.9999"), D("999999999999.99"), D(19), D("33.3333"))
    # Exact product: 666666999999926666630.000000666667
    assert position.net == D("666666999999926666630.00")


def test_tax_is_rounded_per_rate_group_not_per_position() -> None:
    # Three positions of 0.10 at 19 %: per position 0.019 → 0.02 each (0.06); per group 0.30 → 0.057 → 0.06.
    # Two of 0.05 at 7 %: per position 0.0035 → 0.00 each; per group 0.10 → 0.007 → 0.01.
    positions = [Position("line", "x", None, D(1), D("0.10"), D(19))] * 3 + [
        Position("line", "y", None, D(1), D("0.05"), D(7))
    ] * 2
    assert compute_totals(positions) == Totals(
        net=D("0.40"),
        tax=D("0.07"),
        gross=D("0.47"),
        by_rate=((D(7), D("0.10"), D("0.01")), (D(19), D("0.30"), D("0.06"))),
    )


def test_totals_of_nothing_are_zero() -> None:
    assert compute_totals([]) == Totals(net=D("0.00"), tax=D("0.00"), gross=D("0.00"), by_rate=())


def test_voucher_amounts_with_negative_lines_round_away_from_zero() -> None:
    totals = amounts_totals([(D("-10.50"), D(19)), (D("220.00"), D(19)), (D("-0.50"), D(7))])
    # 19 %: 209.50 → 39.805 → 39.81 ; 7 %: -0.50 → -0.035 → -0.04
    assert totals == Totals(
        net=D("209.00"),
        tax=D("39.77"),
        gross=D("248.77"),
        by_rate=((D(7), D("-0.50"), D("-0.04")), (D(19), D("209.50"), D("39.81"))),
    )
    # A credit alone: -10.50 at 19 % is -1.995 → -2.00.
    assert amounts_totals([(D("-10.50"), D(19))]).tax == D("-2.00")


def test_contract_invoice_example_totals() -> None:
    # 220.00 at 19 %: the 261.80 the contract's payment example pays.
    assert amounts_totals([(D("220.00"), D(19))]).gross == D("261.80")


def test_voucher_amounts_must_be_whole_cents() -> None:
    with pytest.raises(InvalidAmounts):
        amounts_totals([(D("1.001"), D(19))])


# --- properties -----------------------------------------------------------------------------------


def _scaled(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: D(n).scaleb(-places))


QUANTITIES = st.one_of(
    st.integers(1, 50).map(D),
    st.sampled_from([D("2.5"), D("0.25"), D("1.5"), D("0.3333")]),
    _scaled(1, 10_000_000, 4),
)
PRICES = _scaled(0, 1_000_000, 2)  # 0.00 … 10000.00
RATES = st.sampled_from([D(0), D(7), D(19)])
PERCENTS = _scaled(0, 10_000, 2)  # 0.00 … 100.00


def _text(value: Decimal) -> str:
    return format(value, "f")


LINES = st.lists(
    st.fixed_dictionaries(
        {
            "quantity": QUANTITIES.map(_text),
            "unit_net_price": PRICES.map(_text),
            "tax_rate": RATES.map(_text),
            "discount_percent": st.none() | PERCENTS.map(_text),
        }
    ).map(lambda data: {"name": "Item", **data}),
    min_size=1,
    max_size=6,
)
FEES = st.lists(
    st.fixed_dictionaries({"net_amount": PRICES.map(_text), "tax_rate": RATES.map(_text)}).map(
        lambda data: {"name": "Fee", **data}
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    lines=LINES,
    fees=FEES,
    discount_kind=st.sampled_from(["none", "percent", "amount", "too_much"]),
    percent=PERCENTS,
    share=st.fractions(0, 1),
    zero_rated=st.booleans(),
)
def test_positions_and_totals_properties(
    lines: list[dict[str, Any]],
    fees: list[dict[str, Any]],
    discount_kind: str,
    percent: Decimal,
    share: Fraction,
    zero_rated: bool,
) -> None:
    rate_of: Callable[[Decimal], Decimal] = (lambda _: D(0)) if zero_rated else same_rate
    undiscounted = deal_positions(deal(lines), rate_of)
    groups: dict[Decimal, Decimal] = {}
    for position in undiscounted:
        groups[position.tax_rate] = groups.get(position.tax_rate, D(0)) + position.net
    lines_net = sum(groups.values(), D(0))

    discount: dict[str, Any] | None = None
    amount = D(0)
    if discount_kind == "percent":
        discount = {"type": "percent", "value": _text(percent)}
    elif discount_kind == "amount":
        # A share of the lines' net, rounded down so it never exceeds it.
        amount = D(int(lines_net.scaleb(2)) * share.numerator // share.denominator).scaleb(-2)
        discount = {"type": "amount", "value": _text(amount)}
    elif discount_kind == "too_much":
        discount = {"type": "amount", "value": _text(lines_net + CENT)}
        with pytest.raises(InvalidAmounts):
            deal_positions(deal(lines, discount=discount, fees=fees), rate_of)
        return

    positions = deal_positions(deal(lines, discount=discount, fees=fees), rate_of)
    totals = compute_totals(positions)

    # Every position's net is whole cents.
    for position in positions:
        assert position.net == cents(position.net)
        exponent = position.net.as_tuple().exponent
        assert isinstance(exponent, int)
        assert exponent >= -2

    # Lines, then discounts, then fees, each fee unchanged.
    assert [p.kind for p in positions] == sorted(
        (p.kind for p in positions), key=["line", "discount", "fee"].index
    )
    assert [(p.unit_price, p.tax_rate) for p in positions if p.kind == "fee"] == [
        (D(f["net_amount"]), rate_of(D(f["tax_rate"]))) for f in fees
    ]

    # Totals are the sums of the positions, tax rounded once per rate group.
    assert totals.net == sum((p.net for p in positions), D(0))
    assert totals.gross == totals.net + totals.tax
    assert totals.tax == sum((tax for _, _, tax in totals.by_rate), D(0))
    assert [rate for rate, _, _ in totals.by_rate] == sorted({p.tax_rate for p in positions})
    for rate, group_net, group_tax in totals.by_rate:
        assert group_net == sum((p.net for p in positions if p.tax_rate == rate), D(0))
        assert group_tax == cents(group_net * rate / 100)

    # The discount: at most one position per rate present among the lines, never a zero one.
    parts = discounts(positions)
    assert set(parts) <= set(groups)
    assert all(part > 0 for part in parts.values())
    if discount_kind == "percent":
        for rate, group_net in groups.items():
            assert parts.get(rate, D(0)) == cents(group_net * percent / 100)
    elif discount_kind == "amount":
        assert sum(parts.values(), D(0)) == amount
        for rate, group_net in groups.items():
            exact = amount * group_net / lines_net if lines_net else D(0)
            assert abs(parts.get(rate, D(0)) - exact) < CENT
    else:
        assert parts == {}


@settings(max_examples=300, deadline=None)
@given(
    amount_cents=st.integers(0, 10**7),
    nets=st.lists(st.tuples(RATES, PRICES), min_size=1, max_size=5, unique_by=lambda pair: pair[0]),
)
def test_split_amount_properties(amount_cents: int, nets: list[tuple[Decimal, Decimal]]) -> None:
    amount = D(amount_cents).scaleb(-2)
    total = sum((net for _, net in nets), D(0))
    if amount > total:
        with pytest.raises(InvalidAmounts):
            split_amount(amount, nets)
        return
    parts = split_amount(amount, nets)
    assert sum(parts, D(0)) == amount
    for (_, net), part in zip(nets, parts, strict=True):
        assert part == cents(part)
        exact = amount * net / total if total else D(0)
        assert abs(part - exact) < CENT


def test_decision_position_rate_feeds_deal_positions() -> None:
    standard = TaxDecision(
        1, "USTPFL_UMS_EINN", zero_rated=False, small_settlement=False, tax_text="Umsatzsteuer"
    )
    positions = deal_positions(deal([line("1", "10.00", "7")]), standard.position_rate)
    assert positions[0].tax_rate == 7
