"""Connecting tenants to sevDesk and changing their settings (used by the CLI, later the admin API)."""

from __future__ import annotations

import logging
from typing import Any

import aio_pika
import asyncpg

from sevsync_events.connection import connect as connect_amqp

from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import AuthError, SevdeskError
from ..sevdesk.token import ApiToken
from ..store.tenants import SEVDESK, STATUS_CONNECTED, TenantRecord, TenantRepository
from .crypto import TokenCipher
from .settings import TenantSettings

log = logging.getLogger(__name__)

REQUIRED_BOOKKEEPING_VERSION = "2.0"
RESUME_BATCH = 200


class TenantError(Exception):
    """A refusal an operator can act on; the message is one line and never holds the token."""


class TenantNotFound(TenantError):
    """The tenant has no row, or no sevDesk connection to act on."""


class OtherProviderConnected(TenantError):
    """Another accounting integration is connected for the tenant (one at a time)."""


async def test_token(client: SevdeskClient, token: ApiToken) -> None:
    """Raise TenantError unless the token works against an account on sevdesk-Update 2.0."""
    try:
        version = await SevdeskApi(client, token).bookkeeping_system_version()
    except AuthError as exc:
        raise TenantError(f"sevDesk refused the token (HTTP {exc.status})") from None
    except SevdeskError as exc:
        raise TenantError(
            f"testing the token against sevDesk at {client.base_url} failed: {exc.describe()}"
        ) from None
    if version != REQUIRED_BOOKKEEPING_VERSION:
        raise TenantError(
            f"the sevDesk account uses bookkeeping system version {version or 'unknown'}; "
            f"sevsync needs {REQUIRED_BOOKKEEPING_VERSION} (sevdesk-Update 2.0)"
        )


async def connect_tenant(
    pool: asyncpg.Pool, client: SevdeskClient, cipher: TokenCipher, tenant_id: str, token: ApiToken
) -> TenantRecord:
    """Test the token, and only then store it; a failed test leaves the previous token in place."""
    repo = TenantRepository(pool)
    # Checked before the token test (no sevDesk call for a tenant that cannot be connected anyway)
    # and again by the store, in case the other integration connected meanwhile.
    await _refuse_other_provider(repo, tenant_id)
    await test_token(client, token)
    record = await repo.store_connection(tenant_id, cipher.encrypt(token))
    if record is None:
        await _refuse_other_provider(repo, tenant_id)
        # The other integration disconnected again in between: rare enough to let the operator retry.
        raise TenantError(f"tenant {tenant_id} changed while connecting; run the command again")
    log.info("tenant %s connected to sevDesk", tenant_id)
    return record


async def _refuse_other_provider(repo: TenantRepository, tenant_id: str) -> None:
    """Raise TenantError while another accounting integration (e.g. lexware) is connected."""
    existing = await repo.get(tenant_id)
    if existing is not None and existing.provider != SEVDESK and existing.status == STATUS_CONNECTED:
        raise OtherProviderConnected(
            f"tenant {tenant_id} is connected to {existing.provider}; a tenant has one accounting "
            f"integration at a time, so disconnect {existing.provider} first"
        )


async def resume_parked(pool: asyncpg.Pool, amqp_url: str, queue: str, tenant_id: str) -> int:
    """Send a reconnected tenant's parked events back to sevsync's own queue (not the CRM exchange)."""
    # Nothing parked (the usual case): no broker connection, so a broker outage cannot fail a connect.
    if not await pool.fetchval("SELECT 1 FROM sevsync.parked_event WHERE tenant_id = $1 LIMIT 1", tenant_id):
        return 0
    resumed = 0
    connection = await connect_amqp(amqp_url)
    try:
        # on_return_raises: a message the broker cannot route (no queue yet) raises instead of being
        # silently dropped, so its parked row is kept.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        while True:
            rows = await pool.fetch(
                "SELECT event_id, event_type, body FROM sevsync.parked_event WHERE tenant_id = $1 "
                "ORDER BY parked_at LIMIT $2",
                tenant_id,
                RESUME_BATCH,
            )
            if not rows:
                return resumed
            for row in rows:
                # The default exchange routes by queue name: only sevsync's queue sees it again.
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        bytes(row["body"]),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(row["event_id"]),
                    ),
                    routing_key=queue,
                    mandatory=True,  # no queue (yet): raise and keep the row, never drop the event
                )
                # Delete only after the broker confirmed: a crash in between re-sends (harmless).
                await pool.execute("DELETE FROM sevsync.parked_event WHERE event_id = $1", row["event_id"])
                resumed += 1
    finally:
        await connection.close()


async def change_settings(
    pool: asyncpg.Pool, tenant_id: str, changes: dict[str, Any], enabled: bool | None
) -> TenantRecord:
    repo = TenantRepository(pool)
    current = await repo.get(tenant_id)
    if current is None:
        raise TenantNotFound(f"tenant {tenant_id} is not known; connect it first")
    merged = current.settings.model_dump()
    merged.update(changes)
    settings = TenantSettings.model_validate(merged)
    record = await repo.update_settings(tenant_id, settings, enabled)
    assert record is not None
    return record


async def disconnect_tenant(pool: asyncpg.Pool, tenant_id: str) -> TenantRecord:
    record = await TenantRepository(pool).disconnect(tenant_id)
    if record is None:
        raise TenantNotFound(f"tenant {tenant_id} has no sevDesk connection")
    return record


def describe_tenant(
    record: TenantRecord, link_counts: dict[str, Any], *, skipped_waiting: int = 0
) -> dict[str, Any]:
    """What `tenant show` prints: everything but the token (only whether one is stored)."""
    return {
        "tenant_id": record.tenant_id,
        "provider": record.provider,
        "status": record.status,
        "enabled": record.enabled,
        "token_stored": record.token_encrypted is not None,
        "connected_at": record.connected_at.isoformat() if record.connected_at else None,
        "settings": record.settings.model_dump(mode="json"),
        "links": link_counts,
        # Events skipped while the tenant did not sync, waiting to be sent (`sevsync skipped`).
        "skipped_waiting": skipped_waiting,
    }
