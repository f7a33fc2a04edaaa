"""Whether a tenant's event is synced at all: the processor's gate, and the check a replay of skipped
events makes first (it must not send what would only be skipped again). Pure: no I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..outcome_words import AUTO_SYNC_OFF, DISABLED, NOT_CONNECTED
from ..store.tenants import SEVDESK, STATUS_DISCONNECTED, TenantRecord

if TYPE_CHECKING:
    # Annotations only: the handler table imports every handler and, through them, the sevDesk client.
    from .handlers import Handler


def tenant_skip_reason(tenant: TenantRecord | None) -> str | None:
    """Why none of this tenant's events is synced now, or None when they are."""
    if tenant is None or tenant.provider != SEVDESK or tenant.status == STATUS_DISCONNECTED:
        return NOT_CONNECTED
    if tenant.token_encrypted is None:
        return NOT_CONNECTED
    if not tenant.enabled:
        return DISABLED
    return None


def skip_reason(tenant: TenantRecord | None, handler: Handler) -> str | None:
    """Why this tenant's event of this kind is not synced at all, or None when it is."""
    reason = tenant_skip_reason(tenant)
    if reason is not None:
        return reason
    assert tenant is not None
    if handler.auto_sync_setting and not getattr(tenant.settings, handler.auto_sync_setting):
        return AUTO_SYNC_OFF
    return None
