"""Dates in the forms sevDesk expects. sevDesk counts days in Europe/Berlin (CONTRACT section 2)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def document_date(day: date) -> str:
    """`dd.mm.yyyy`, which sevDesk reads as that day in Berlin (order, invoice and voucher dates)."""
    return day.strftime("%d.%m.%Y")


def berlin_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, BERLIN)


def unix_timestamp(day: date) -> int:
    """The start of `day` in Berlin as Unix seconds (what invoice bookings expect)."""
    return int(berlin_midnight(day).timestamp())


def berlin_datetime(day: date) -> str:
    """The start of `day` in Berlin as an ISO 8601 date-time (what voucher bookings expect)."""
    return berlin_midnight(day).isoformat()
