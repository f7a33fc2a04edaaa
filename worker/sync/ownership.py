"""Telling the object sevsync created from someone else's that holds the same key. No I/O here.

sevDesk users take customer numbers from the sequence sevsync draws from, and a document can carry a
marker sevsync made up (a copy, a cancellation). So an object found by such a key after a failed or
uncertain create is sevsync's only when its identifying fields are the ones sevsync sent (CONTRACT
section 8). What was sent is kept with the write intent as a fingerprint of those fields, taken
before the create, so that the proof survives a crash and does not depend on the entity's current
version. Only fields sevDesk echoes back exactly as sent are compared: texts it stores as given and
references by id; nothing it computes, normalises or changes by itself (sums, dates, status).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..sevdesk.objects import JsonObject
from .contact_mapping import fingerprint


@dataclass(frozen=True)
class Identity:
    """The fields of one kind of object that tell whose it is."""

    texts: tuple[str, ...]
    references: tuple[str, ...] = ()

    def fingerprint(self, fields: Mapping[str, Any]) -> str:
        """Of the fields sent (a create body, a document's header) or of an object as sevDesk answers it."""
        values = {name: _text(fields.get(name)) for name in self.texts}
        values.update({name: _reference_id(fields.get(name)) for name in self.references})
        return fingerprint(values)

    def sent_by_sevsync(self, found: list[JsonObject], sent: tuple[str, ...]) -> list[JsonObject]:
        """The objects among `found` whose identifying fields are ones sevsync sent (`sent` fingerprints)."""
        return [obj for obj in found if self.fingerprint(obj) in sent]


# A contact: its number and names, its category and, for a contact person, its organisation. Tax ids
# are left out: how sevDesk stores a VAT id it was sent has not been measured.
CONTACT = Identity(
    texts=("customerNumber", "name", "surename", "familyname"), references=("category", "parent")
)
# A deal's invoice draft: its marker, type, title and contact. A cancellation invoice copies the
# marker but is of another type.
INVOICE = Identity(texts=("customerInternalNote", "invoiceType", "header"), references=("contact",))


def _text(value: object) -> str:
    # sevDesk answers an unset text as null; sevsync may have sent null or left it out.
    if value is None or isinstance(value, Mapping | list):
        return ""
    return str(value)


def _reference_id(value: object) -> str:
    # Sent as {"id": 3, ...}; answered as {"id": "3", ...}, or null when unset.
    if isinstance(value, Mapping) and value.get("id") is not None:
        return str(value["id"])
    return ""
