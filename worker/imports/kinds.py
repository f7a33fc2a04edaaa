"""The two kinds of import (contacts, parts) and the constants they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal, get_args

from sevsync_events.registry import CONTACT_IMPORTED, PART_IMPORTED

ImportKind = Literal["contacts", "parts"]
KINDS: Final[tuple[ImportKind, ...]] = get_args(ImportKind)

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000  # sevDesk's spec advises limits of at most 1000
# Imported records have no CRM version; any customer.* / product.* event of them is newer.
IMPORT_VERSION: Final = 0
PART_INACTIVE: Final = "50"  # Part status: 100 active, 50 inactive

# From this many contacts needing addresses on one page, reading every address and communication
# way of the account once (about two calls per 1000) is cheaper than two calls per contact.
BULK_MIN_CONTACTS: Final = 10
# A contact created this close to (or after) the moment the bulk read began may have addresses the
# read missed; it is read on its own. Generous, since the clocks are sevDesk's and ours.
BULK_CREATE_MARGIN: Final = timedelta(minutes=5)
WAY_TYPES: Final = frozenset({"EMAIL", "PHONE", "MOBILE"})


@dataclass(frozen=True)
class KindDetails:
    sevdesk_object: str
    entity_type: str  # entity_link type of a linked record
    event_type: str
    noun: str


KIND_DETAILS: Final[Mapping[ImportKind, KindDetails]] = {
    "contacts": KindDetails("Contact", "customer", CONTACT_IMPORTED, "contact"),
    "parts": KindDetails("Part", "product", PART_IMPORTED, "part"),
}
