"""What a delivery's headers say: sevsync's own counts and marks, and the broker's dead-letter counts.

The broker reads them here into plain facts for the processor, and writes the counts of the copies
it holds to be tried again (`retry_relay.py`); nothing else looks at headers. Pure: parsing
headers needs no aio-pika.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..disposition import Disposition

# Deliveries of one message before the broker gives up on it (the work queue's `x-delivery-limit`).
# Each one is a crash or an error that could not even be recorded, so a handful is plenty.
DELIVERY_LIMIT = 10

# Retries an event has had: steps of the ladder it spent waiting on.
RETRIES_HEADER = "x-sevsync-retries"
# How often the worker deferred a delivery because its tenant held its share of the process.
DEFERRALS_HEADER = "x-sevsync-deferrals"
# Set on a skipped event sent again on purpose (`sevsync skipped replay`), with this value.
REPLAY_HEADER = "x-sevsync-replay"
SKIPPED_REPLAY = "skipped"


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What the processor is told of a delivery besides its body."""

    retries: int
    deferrals: int
    skipped_replay: bool


def delivery_facts(headers: Mapping[str, Any] | None) -> DeliveryFacts:
    return DeliveryFacts(retries_so_far(headers), deferrals_so_far(headers), asks_skipped_replay(headers))


def retries_so_far(headers: Mapping[str, Any] | None) -> int:
    """Retries an event has had (0 for a first delivery or a header that is not a count)."""
    return _count(headers, RETRIES_HEADER)


def deferrals_so_far(headers: Mapping[str, Any] | None) -> int:
    """Deferrals a delivery has had (0 for a first delivery or a header that is not a count)."""
    return _count(headers, DEFERRALS_HEADER)


def asks_skipped_replay(headers: Mapping[str, Any] | None) -> bool:
    """Whether a delivery is a skipped event sent again on purpose."""
    value = (headers or {}).get(REPLAY_HEADER)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value == SKIPPED_REPLAY


def retry_copy_headers(headers: Mapping[str, Any] | None, step: int, why: Disposition) -> dict[str, Any]:
    """The headers of a delivery's copy on ladder step `step`: one more deferral, or the retries spent."""
    copied = dict(headers or {})
    if why is Disposition.DEFER:
        copied[DEFERRALS_HEADER] = deferrals_so_far(copied) + 1
    else:
        # Waiting on step N spends steps 0..N (a long Retry-After may skip some).
        copied[RETRIES_HEADER] = step + 1
    return copied


def delivery_count(headers: Mapping[str, Any] | None) -> int | None:
    """How often the broker delivered a message before dead-lettering it, when it says so.

    A quorum queue dead-letters with reason `delivery_limit` once a message was returned more often
    than the limit allows; its `x-death` entry then counts dead-letterings, not deliveries.
    """
    if not headers:
        return None
    count = headers.get("x-delivery-count")
    if isinstance(count, int):
        return count + 1
    deaths = headers.get("x-death")
    if (
        isinstance(deaths, list)
        and deaths
        and isinstance(deaths[0], dict)
        and deaths[0].get("reason") in ("delivery_limit", b"delivery_limit")
    ):
        return DELIVERY_LIMIT + 1
    return None


def _count(headers: Mapping[str, Any] | None, name: str) -> int:
    value = (headers or {}).get(name)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
