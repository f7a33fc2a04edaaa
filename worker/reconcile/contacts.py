"""Contacts: the linked contacts whose `update` moved since the cursor, all of them on a sweep.

A changed contact's addresses and communication ways are read with it (sevDesk returns neither
with the contact). A sweep lists every contact, address and way of the account: it finds
deletions, and changes of an address or way that did not move its contact's `update`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import ValidationError

from sevsync_events.errors import format_validation_error
from sevsync_events.outbound import ChangedCustomer
from sevsync_events.registry import CONTACT_CHANGED

from ..imports.details import ContactDetails
from ..imports.mapping import customer_from_contact, id_of, ref_id
from ..imports.results import InvalidData
from ..sevdesk.errors import NotFoundError
from ..sevdesk.objects import JsonObject
from ..store.reconcile import Cursor, LinkedObject, linked_objects
from ..sync.agreed_state import agrees_on_written, contact_state, state_hash
from ..sync.contact_mapping import pick_existing_address
from ..sync.lookups import TenantLookups
from .kinds import BATCH, KindRun, newer, updated_after

log = logging.getLogger(__name__)

ENTITY = "customer"
CONTACT = "Contact"


async def reconcile_contacts(run: KindRun, cursor: Cursor) -> datetime | None:
    """Tell the changes of linked contacts; the next cursor (see `KindRun.next_cursor`)."""
    since = None if run.sweep else cursor.changed_after
    full = since is None
    run.start()  # before the first list call: changes made while the run lists stay ahead of the cursor
    listing: AsyncIterator[JsonObject] = (
        run.api.every_contact() if since is None else run.api.contacts_changed_after(updated_after(since))
    )
    examiner = _Examiner(run, bulk=full)
    newest, listed, batch = cursor.changed_after, set[str](), list[JsonObject]()
    async for contact in listing:
        newest = newer(newest, contact)
        contact_id = id_of(contact)
        if contact_id is None or ref_id(contact.get("parent")) is not None:
            continue  # a contact person belongs to its organisation, which is the customer
        listed.add(contact_id)
        batch.append(contact)
        if len(batch) >= BATCH:
            await examiner.examine(batch)
            batch = []
    await examiner.examine(batch)
    if full:
        await _find_deleted(run, listed)
        run.teller.counts.swept = True
    return run.next_cursor(newest)


class _Examiner:
    def __init__(self, run: KindRun, *, bulk: bool) -> None:
        self._run = run
        # Listing changes, two reads per changed contact: the cost grows with the changes, not the
        # account. A full listing (a sweep, the first run) reads every address and way at once,
        # again for contacts changed since.
        self._details = ContactDetails(run.api, bulk=bulk, fresh=True)
        self._lookups = TenantLookups()

    async def examine(self, contacts: list[JsonObject]) -> None:
        run = self._run
        if not contacts:
            return
        by_id = {str(c["id"]): c for c in contacts}
        links = await linked_objects(run.conn, run.tenant.tenant_id, [ENTITY], CONTACT, list(by_id))
        if not run.sweep:
            # Listed again by the cursor's overlap, at the stamp examined before: nothing to read.
            links = [link for link in links if not run.seen_before(link.seen_update, by_id[link.sevdesk_id])]
        if not links:
            await run.teller.flush()
            return
        details = await self._details.of([by_id[link.sevdesk_id] for link in links])
        for link in links:
            contact = by_id[link.sevdesk_id]
            addresses, ways = details[link.sevdesk_id]
            await self._compare(link, contact, addresses, ways)
        run.examined(len(links))
        await run.teller.flush()

    async def _compare(
        self, link: LinkedObject, contact: JsonObject, addresses: list[JsonObject], ways: list[JsonObject]
    ) -> None:
        run = self._run
        stamp = contact.get("update")
        seen = stamp if isinstance(stamp, str) else None
        address = pick_existing_address(addresses)
        country_code = None
        if address is not None and (country_id := ref_id(address.get("country"))) is not None:
            country_code = await self._lookups.country_code(run.api, country_id)
        try:
            imported = customer_from_contact(contact, address, country_code, ways)
            changed = ChangedCustomer.model_validate({**imported.model_dump(), "id": link.entity_id})
        except (ValidationError, InvalidData) as exc:
            reason = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            log.warning("sevDesk contact %s does not fit the CRM's shape: %s", link.sevdesk_id, reason)
            run.teller.counts.invalid += 1
            await run.teller.seen(link, seen)  # warned once: not read again until it changes
            return
        state = contact_state(changed, changed.customer_number)
        # Equal on the fields sevsync's last write set: what sevDesk holds in the others is agreed untold.
        await run.teller.change(
            link,
            CONTACT_CHANGED,
            changed,
            state_hash(state),
            seen,
            own=agrees_on_written(state, link.agreed_hash),
        )


async def _find_deleted(run: KindRun, listed: set[str]) -> None:
    """Linked contacts the full listing lacked: deleted, unless a read finds them (made meanwhile)."""
    links = await linked_objects(run.conn, run.tenant.tenant_id, [ENTITY], CONTACT)
    for link in links:
        if link.sevdesk_id in listed:
            continue
        try:
            await run.api.get_contact(link.sevdesk_id)
        except NotFoundError:
            await run.teller.broken(link)
    await run.teller.flush()
