"""The lock of the CRM entity behind a link: held by its handlers while they write, tried by the
reconciler before it tells (a deal's offer and invoice share the deal's)."""

from __future__ import annotations

from ..store.reconcile import CRM_ENTITY_TYPES, LinkedObject, crm_entity_type
from ..sync.locks import entity_lock_key

__all__ = ["CRM_ENTITY_TYPES", "lock_key_of"]


def lock_key_of(tenant_id: str, link: LinkedObject) -> str:
    return entity_lock_key(tenant_id, crm_entity_type(link.entity_type), link.entity_id)
