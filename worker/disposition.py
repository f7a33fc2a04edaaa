"""What becomes of a delivery once it is decided: the value the processor hands the broker.

The one type `sync` and `broker` share: the processor decides, the broker settles, and neither
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Metric labels for deliveries that name no handled event type (labels must stay a bounded set).
MALFORMED_TYPE = "malformed"
UNKNOWN_TYPE = "unknown"


class Disposition(Enum):
    ACK = "ack"
    # Processing could not even record an outcome (database down, a bug): let the broker redeliver.
    REQUEUE = "requeue"
    # A transient failure: wait on the retry ladder's `retry_step`, then try again.
    RETRY = "retry"
    # The tenant holds its share of this process already: wait on ladder step `retry_step` without
    # spending a retry, so that the prefetch window stays open to the other tenants.
    DEFER = "defer"


@dataclass(frozen=True)
class Decision:
    disposition: Disposition
    retry_step: int | None = None
    # For metrics: a handled event type, or `malformed` / `unknown`.
    event_type: str = UNKNOWN_TYPE


ACK = Decision(Disposition.ACK)
REQUEUE = Decision(Disposition.REQUEUE)
