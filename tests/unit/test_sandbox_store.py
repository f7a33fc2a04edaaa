"""Pure helpers of the sevDesk sandbox: Berlin offsets, wire coercion, fault rule bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sevsync.sandbox.errors import ApiError
from sevsync.sandbox.faults import FaultInjector
from sevsync.sandbox.store import berlin_offset
from sevsync.sandbox.wire import decimal_text, flag


@pytest.mark.parametrize(
    ("moment", "hours"),
    [
        (datetime(2026, 1, 15, 12, tzinfo=UTC), 1),
        (datetime(2026, 7, 15, 12, tzinfo=UTC), 2),
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), 1),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 2),
        (datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), 2),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 1),
    ],
)
def test_berlin_offset_switches_at_the_eu_boundaries(moment: datetime, hours: int) -> None:
    assert berlin_offset(moment).utcoffset(None) == timedelta(hours=hours)


def test_berlin_offset_agrees_with_the_tz_database() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    while moment < datetime(2029, 1, 1, tzinfo=UTC):
        assert berlin_offset(moment).utcoffset(None) == moment.astimezone(berlin).utcoffset(), moment
        moment += timedelta(hours=1)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("120.50", "120.5"),
        (100, "100"),
        (100.0, "100"),
        ("1E+2", "100"),
        ("-0.00", "0"),
        (19, "19"),
        (None, None),
    ],
)
def test_amounts_are_kept_as_exact_decimal_strings(sent: Any, stored: str | None) -> None:
    assert decimal_text("price", sent) == stored


@pytest.mark.parametrize("sent", ["abc", "NaN", True, [1]])
def test_non_numbers_are_rejected_with_422(sent: Any) -> None:
    with pytest.raises(ApiError) as caught:
        decimal_text("price", sent)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("sent", "stored"), [(True, "1"), (1, "1"), ("true", "1"), (False, "0"), (0, "0"), ("0", "0")]
)
def test_flags_render_as_0_or_1(sent: Any, stored: str) -> None:
    assert flag("main", sent) == stored


def test_fault_rules_are_consumed_in_order() -> None:
    faults = FaultInjector()
    faults.add(kind="status", method="post", path="^/Contact$", status=503, times=1)
    faults.add(kind="latency", path="^/Contact", times=None)

    assert faults.take("GET", "/Part") is None
    first = faults.take("POST", "/Contact")
    second = faults.take("POST", "/Contact")
    third = faults.take("GET", "/ContactAddress")

    assert first is not None
    assert first.kind == "status"
    assert second is not None
    assert second.kind == "latency"
    assert third is second
    assert third.hits == 2
    assert [rule.kind for rule in faults.rules] == ["latency"]
