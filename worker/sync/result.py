"""What a handler returns, and the failure it raises when the data cannot be applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from ..outcome_words import AWAITING_DEPENDENCY
from ..store.links import LinkWrite


@dataclass(frozen=True)
class Outbound:
    """An event for the CRM besides the `sync.*` result (e.g. `customer.linked`)."""

    event_type: str
    data: BaseModel


@dataclass(frozen=True)
class HandlerResult:
    status: Literal["succeeded", "skipped"]
    reason: str | None = None
    sevdesk_object: str | None = None
    sevdesk_id: str | None = None
    sevdesk_number: str | None = None
    links: tuple[LinkWrite, ...] = ()
    outbound: tuple[Outbound, ...] = ()


def linked_result(
    link: LinkWrite, *, skip_reason: str | None = None, outbound: tuple[Outbound, ...] = ()
) -> HandlerResult:
    """The result of an event that leaves its entity linked to `link`'s sevDesk object."""
    return HandlerResult(
        status="skipped" if skip_reason else "succeeded",
        reason=skip_reason,
        sevdesk_object=link.sevdesk_object,
        sevdesk_id=link.sevdesk_id,
        sevdesk_number=link.sevdesk_number,
        links=(link,),
        outbound=outbound,
    )


@dataclass
class SyncFailure(Exception):
    """The event cannot be applied as sent; retrying it unchanged will not help (status `failed`)."""

    reason: str
    message: str
    sevdesk_object: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass
class WaitingFor(Exception):
    """The event cannot be applied *yet* (its invoice is not there, the bank import lags).

    It waits on the retry ladder with `reason`; when the ladder ends it becomes `final_status` with
    `final_reason` (by default the same reason).
    """

    reason: str
    message: str
    final_status: Literal["failed", "dead"] = "dead"
    final_reason: str | None = None
    # sevDesk's Retry-After, which the ladder step must not undercut.
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


def awaiting(message: str) -> WaitingFor:
    """A prerequisite (a document, a finalised invoice) has not been applied yet (CONTRACT section 3)."""
    return WaitingFor(AWAITING_DEPENDENCY, message, "dead")
