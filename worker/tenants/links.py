"""An operator's decision on a broken link (`sevsync link`, the admin API, the console).

A link is broken when its sevDesk object was found deleted there (the reconciler sets broken_at);
its entity's events fail `link_broken` until it is relinked to another existing object of its
kind (one GET checks that object) or cleared (the next event creates anew). A healthy link is left
alone: both refuse it, so a decision never overrides what sevsync's own writes keep in step.
"""

from __future__ import annotations

import asyncpg

from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import NotFoundError, SevdeskError
from ..sevdesk.objects import JsonObject
from ..store import links as store
from ..store.links import Link
from ..store.tenants import TenantRepository
from ..sync.broken_links import LINK_TYPES, checked_sevdesk_id, is_of_kind, number_of
from .crypto import SecretKeyError, TokenCipher
from .service import TenantError, TenantNotFound


class LinkConflict(TenantError):
    """The link is not broken (any more), or the object is another entity's already."""


class RelinkRefused(TenantError):
    """The object to relink to is not there in sevDesk, or not of the link's kind."""


class SevdeskUnavailable(TenantError):
    """sevDesk did not answer the relink's GET (or refused the token): nothing was changed."""


def checked_link(entity_type: str, sevdesk_id: str | None = None) -> None:
    """Refuse a type that is no link type, or an id sevDesk could not have (one line each)."""
    if entity_type not in LINK_TYPES:
        raise TenantError(f"no link type {entity_type[:40]!r}: one of {', '.join(LINK_TYPES)}")
    if sevdesk_id is not None:
        try:
            checked_sevdesk_id(sevdesk_id)
        except ValueError as exc:
            raise TenantError(str(exc)) from None


async def list_broken(pool: asyncpg.Pool, tenant_id: str) -> list[Link]:
    await _known_tenant(pool, tenant_id)
    return await store.broken_links(pool, tenant_id)


async def find_link(pool: asyncpg.Pool, tenant_id: str, entity_type: str, entity_id: str) -> Link:
    checked_link(entity_type)
    await _known_tenant(pool, tenant_id)
    async with pool.acquire() as conn:
        link = await store.get_link(conn, tenant_id, entity_type, entity_id)
    if link is None:
        raise TenantNotFound(f"tenant {tenant_id} has no {entity_type} link for {entity_id}")
    return link


async def clear_link(pool: asyncpg.Pool, tenant_id: str, entity_type: str, entity_id: str) -> Link:
    """Unlink the broken link (its row and versions stay); the link as it was."""
    link = await find_link(pool, tenant_id, entity_type, entity_id)
    _broken_only(link)
    async with pool.acquire() as conn:
        if not await store.clear_broken_link(conn, tenant_id, entity_type, entity_id):
            raise _not_broken(link)
    return link


async def relink(
    pool: asyncpg.Pool,
    client: SevdeskClient,
    cipher: TokenCipher,
    tenant_id: str,
    link_key: tuple[str, str],
    sevdesk_id: str,
) -> Link:
    """Point the broken link at another existing object of its kind; the link as it is now."""
    entity_type, entity_id = link_key
    checked_link(entity_type, sevdesk_id)
    link = await find_link(pool, tenant_id, entity_type, entity_id)
    _broken_only(link)
    kind = link.sevdesk_object
    if kind is None:
        raise LinkConflict(f"{entity_type} {entity_id} is linked to no sevDesk object; clear it instead")
    async with pool.acquire() as conn:
        owner = await store.entity_linked_to(conn, tenant_id, entity_type, kind, sevdesk_id)
    if owner is not None and owner != entity_id:
        raise LinkConflict(f"sevDesk {kind} {sevdesk_id} is already linked to {entity_type} {owner}")
    found = await _fetch(pool, client, cipher, tenant_id, kind, sevdesk_id)
    async with pool.acquire() as conn:
        mended = await store.relink_broken_link(
            conn, tenant_id, entity_type, entity_id, sevdesk_id, number_of(kind, found)
        )
        if not mended:
            # Mended meanwhile, or the object was linked to another entity meanwhile.
            owner = await store.entity_linked_to(conn, tenant_id, entity_type, kind, sevdesk_id)
            if owner is not None and owner != entity_id:
                raise LinkConflict(f"sevDesk {kind} {sevdesk_id} is already linked to {entity_type} {owner}")
            raise _not_broken(link)
        now = await store.get_link(conn, tenant_id, entity_type, entity_id)
    assert now is not None
    return now


async def _fetch(
    pool: asyncpg.Pool, client: SevdeskClient, cipher: TokenCipher, tenant_id: str, kind: str, sevdesk_id: str
) -> JsonObject:
    """One GET of the object in the tenant's account: it must be there and of the link's kind."""
    record = await TenantRepository(pool).get(tenant_id)
    if record is None or record.token_encrypted is None:
        raise TenantNotFound(f"tenant {tenant_id} is not connected to sevDesk")
    try:
        api = SevdeskApi(client, cipher.decrypt(record.token_encrypted))
    except SecretKeyError as exc:
        raise TenantError(f"the stored token cannot be decrypted: {exc}") from None
    getters = {
        "Contact": api.get_contact,
        "Part": api.get_part,
        "Order": api.get_order,
        "Invoice": api.get_invoice,
        "Voucher": api.get_voucher,
    }
    getter = getters.get(kind)
    if getter is None:
        raise RelinkRefused(f"a link to a sevDesk {kind} cannot be relinked; clear it instead")
    try:
        found = await getter(sevdesk_id)
    except NotFoundError:
        raise RelinkRefused(f"sevDesk has no {kind} {sevdesk_id} in tenant {tenant_id}'s account") from None
    except SevdeskError as exc:
        raise SevdeskUnavailable(f"sevDesk did not answer the check of {kind} {sevdesk_id}: {exc}") from None
    if not is_of_kind(kind, found):
        raise RelinkRefused(f"sevDesk object {sevdesk_id} is a {found.get('objectName')}, not a {kind}")
    return found


async def _known_tenant(pool: asyncpg.Pool, tenant_id: str) -> None:
    if await TenantRepository(pool).get(tenant_id) is None:
        raise TenantNotFound(f"tenant {tenant_id} is not known")


def _broken_only(link: Link) -> None:
    if link.broken_at is None:
        raise _not_broken(link)


def _not_broken(link: Link) -> LinkConflict:
    return LinkConflict(
        f"{link.entity_type} {link.entity_id} is not broken (its sevDesk {link.sevdesk_object} "
        f"{link.sevdesk_id} is linked); only a broken link is relinked or cleared"
    )


def describe_link(link: Link) -> dict[str, str | int | None]:
    """A link as the CLI prints it and the admin API answers it."""
    return {
        "entity_type": link.entity_type,
        "entity_id": link.entity_id,
        "sevdesk_object": link.sevdesk_object,
        "sevdesk_id": link.sevdesk_id,
        "sevdesk_number": link.sevdesk_number,
        "synced_version": link.synced_version,
        "broken_at": link.broken_at.isoformat() if link.broken_at else None,
        "broken_reason": link.broken_reason,
    }
