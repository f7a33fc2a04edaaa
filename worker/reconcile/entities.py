"""The CRM entity behind each link the reconciler tells about: whose handler may be writing it, and
whose `version` counter its events step (a deal's offer and invoice are one entity to the CRM)."""

from __future__ import annotations

from typing import Final

from ..store.reconcile import Entity, LinkedObject
from ..sync import invoices as deal_invoices
from ..sync import offers, vouchers
from ..sync.locks import entity_lock_key

# Link type -> the entity type its handlers run under (sync/handlers.py); the CRM knows it so too.
CRM_ENTITY_TYPES: Final = {
    "customer": "customer",
    "product": "product",
    offers.LINK_TYPE: "deal",
    deal_invoices.LINK_TYPE: "deal",
    vouchers.LINK_TYPE: "invoice",
}


def entity_of(tenant_id: str, link: LinkedObject) -> Entity:
    entity_type = CRM_ENTITY_TYPES.get(link.entity_type, link.entity_type)
    return Entity(entity_type, entity_lock_key(tenant_id, entity_type, link.entity_id))
