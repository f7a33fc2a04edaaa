"""The reconciler's link type -> CRM entity table agrees with the handlers' own."""

from __future__ import annotations

from sevsync.reconcile.entities import CRM_ENTITY_TYPES
from sevsync.sync.handlers import HANDLERS


def test_each_told_link_type_maps_to_the_entity_its_handlers_lock() -> None:
    for link_type, entity_type in CRM_ENTITY_TYPES.items():
        handlers = {h.entity_type for h in HANDLERS.values() if link_type in h.link_types}
        assert handlers == {entity_type}, link_type
