"""Links whose sevDesk object was deleted there (CONTRACT section 10), and what an operator may do.

Pure: the failure a handler's read of a broken link raises, the words an operator is told, and what
a relink may point at. The reconciler sets `entity_link.broken_at`; `sevsync link relink|clear`
(tenants.links) lifts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC
from typing import Final

from ..outcome_words import LINK_BROKEN
from ..store.links import Link
from .result import SyncFailure

# Every entity_link.entity_type (CONTRACT section 7), the TYPE `sevsync link` takes.
LINK_TYPES: Final = (
    "customer",
    "product",
    "deal_order",
    "deal_invoice",
    "invoice_voucher",
    "cancellation",
    "payment",
)
# A sevDesk id as an operator gives it: sevDesk's ids are whole numbers, as long as events allow.
SEVDESK_ID_PATTERN: Final = r"^[1-9][0-9]{0,19}$"


def checked_sevdesk_id(text: str, what: str = "a sevDesk id") -> str:
    """`text` if it matches SEVDESK_ID_PATTERN; else ValueError, one line naming `what` was expected.

    Every id an operator gives (CLI settings flags, `link relink`) is checked by this one rule.
    """
    if not re.fullmatch(SEVDESK_ID_PATTERN, text):
        raise ValueError(f"{text[:40]!r} is not {what} (a whole number from 1, up to 20 digits)")
    return text


# The sevDesk objects links point at, and the field of each that holds the number a link keeps.
NUMBER_FIELDS: Final = {
    "Contact": "customerNumber",
    "Part": "partNumber",
    "Order": "orderNumber",
    "Invoice": "invoiceNumber",
    "Voucher": "description",
}


def first_broken(links: Iterable[Link | None]) -> Link | None:
    return next((link for link in links if link is not None and link.broken_at is not None), None)


def link_commands(tenant_id: str, link: Link) -> tuple[str, str]:
    """The two commands that decide a broken link: relink it, or clear it."""
    target = f"{tenant_id} {link.entity_type} {link.entity_id}"
    return f"sevsync link relink {target} --sevdesk-id ID", f"sevsync link clear {target}"


def broken_failure(tenant_id: str, link: Link) -> SyncFailure:
    """The failure of an event that would write through a broken link (never retried, replayable)."""
    relink, clear = link_commands(tenant_id, link)
    since = f" since {link.broken_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if link.broken_at else ""
    why = f" ({link.broken_reason})" if link.broken_reason else ""
    return SyncFailure(
        LINK_BROKEN,
        f"{link.entity_type} {link.entity_id} is linked to sevDesk {link.sevdesk_object} "
        f"{link.sevdesk_id}, which is gone from sevDesk{why}{since}; point the link at another "
        f"object with `{relink}` or let the next event create anew with `{clear}`, then replay this event",
        link.sevdesk_object,
    )


def number_of(sevdesk_object: str, found: dict[str, object]) -> str | None:
    """The number a relinked object carries (customer, part, order, invoice number, voucher text)."""
    value = found.get(NUMBER_FIELDS.get(sevdesk_object, ""))
    return str(value) if value not in (None, "") else None


def is_of_kind(sevdesk_object: str, found: dict[str, object]) -> bool:
    """Whether a fetched object is of the kind the link holds (sevDesk names it in `objectName`)."""
    name = found.get("objectName")
    return name is None or name == sevdesk_object
