"""Addresses, e-mail and phone of the contacts on a page, in as few calls as possible."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ..sevdesk.api import SevdeskApi
from ..sevdesk.objects import JsonObject, stamp
from .kinds import BULK_CREATE_MARGIN, BULK_MIN_CONTACTS, WAY_TYPES
from .mapping import ref_id, required_id

# --- addresses and communication ways ------------------------------------------------------------

_Details = tuple[list[JsonObject], list[JsonObject]]  # (addresses, communication ways) of a contact


class ContactDetails:
    """Addresses and communication ways of contacts, with as few sevDesk calls as it can.

    sevDesk returns neither with the contact, and its list filters take one contact at a time. A
    page with many contacts to map makes one read of every address and way of the account (kept
    for the rest of the run); otherwise, and for contacts that may be younger than that read, each
    contact's are listed on their own.

    `bulk=False`: never the read of the whole account, two calls per contact (a cost that grows
    with the contacts asked, not the account). `fresh=True`: the read serves a contact only if its
    `update` too is before it, and is read again when a page has many it cannot serve (a run that
    lists for long compares contacts changed after the read).
    """

    def __init__(self, api: SevdeskApi, *, bulk: bool = True, fresh: bool = False) -> None:
        self._api = api
        self._bulk_allowed, self._fresh = bulk, fresh
        self._bulk: dict[str, _Details] | None = None
        self._bulk_read_at: datetime | None = None

    async def of(self, contacts: Sequence[JsonObject]) -> dict[str, _Details]:
        if self._bulk_allowed and self._bulk_due(contacts):
            await self._read_bulk()
        found: dict[str, _Details] = {}
        for contact in contacts:
            contact_id = required_id(contact)
            if self._bulk is not None and self._served(contact):
                found[contact_id] = self._bulk.get(contact_id, ([], []))
                continue
            found[contact_id] = (
                await self._api.list_addresses(contact_id),
                await self._api.list_communication_ways(contact_id),
            )
        return found

    def _bulk_due(self, contacts: Sequence[JsonObject]) -> bool:
        if self._bulk is not None and not self._fresh:
            return False
        settled = datetime.now(UTC) - BULK_CREATE_MARGIN
        unserved = [c for c in contacts if _stamped_before(c, "create", settled) and not self._served(c)]
        return len(unserved) >= BULK_MIN_CONTACTS

    def _served(self, contact: JsonObject) -> bool:
        """Whether the read of the whole account holds this contact's details as they are."""
        if self._bulk is None or self._bulk_read_at is None:
            return False
        before = self._bulk_read_at - BULK_CREATE_MARGIN
        return _stamped_before(contact, "create", before) and (
            not self._fresh or _stamped_before(contact, "update", before)
        )

    async def _read_bulk(self) -> None:
        read_at = datetime.now(UTC)
        bulk: dict[str, _Details] = {}
        async for address in self._api.every_address():
            if (contact_id := ref_id(address.get("contact"))) is not None:
                # Only what the mapping reads: an account may have many thousands.
                slim = {k: address.get(k) for k in ("id", "category", "street", "zip", "city", "country")}
                bulk.setdefault(contact_id, ([], []))[0].append(slim)
        async for way in self._api.every_communication_way():
            contact_id = ref_id(way.get("contact"))
            if contact_id is not None and str(way.get("type") or "").upper() in WAY_TYPES:
                slim = {k: way.get(k) for k in ("id", "type", "main", "value")}
                bulk.setdefault(contact_id, ([], []))[1].append(slim)
        self._bulk, self._bulk_read_at = bulk, read_at


def _stamped_before(record: JsonObject, key: str, moment: datetime) -> bool:
    """Whether sevDesk's `key` stamp is before `moment`; unknown counts as not (the safe side)."""
    created = stamp(record.get(key))
    return created is not None and created < moment
