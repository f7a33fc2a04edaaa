"""Where a deal invoice states its delivery date (Leistungsdatum), which German law wants on it.

The deal's date is both the invoice date and the delivery date. Most sevDesk accounts take that
as `deliveryDate`; some refuse a delivery date equal to the invoice date (422 "The invoiceDate (...)
must be before the deliveryDate (...)"). For a tenant whose account refused it (the setting
`delivery_date_in_head_text`), the invoice carries no `deliveryDate` and its head text opens with a
paragraph "Leistungsdatum: dd.mm.yyyy" instead, ahead of whatever head text the draft has.
"""

from __future__ import annotations

import re
from datetime import date

from ..sevdesk.errors import SevdeskError
from ..sevdesk.objects import JsonObject
from .dates import document_date

# sevDesk's words when it refuses the equal pair; any other refusal is reported as it is.
EQUAL_DATES_REFUSAL = "must be before the deliveryDate"
REFUSAL_STATUS = 422
LABEL = "Leistungsdatum"
# The paragraph sevsync writes (any date), wherever it stands in a head text.
_DELIVERY_PARAGRAPH = re.compile(rf"<p>\s*{LABEL}:\s*\d{{2}}\.\d{{2}}\.\d{{4}}\s*</p>\n?")


def refuses_equal_dates(exc: SevdeskError) -> bool:
    """Whether sevDesk refused an invoice because its delivery date equals its invoice date."""
    return exc.status == REFUSAL_STATUS and EQUAL_DATES_REFUSAL in (exc.sevdesk_message or "")


def delivery_paragraph(day: date) -> str:
    # The head text is HTML in sevDesk; a paragraph of its own keeps the line apart when printed.
    return f"<p>{LABEL}: {document_date(day)}</p>"


def without_delivery_paragraph(head_text: str | None) -> str:
    """The head text without the delivery date sevsync put in it (possibly an older date)."""
    return _DELIVERY_PARAGRAPH.sub("", head_text or "").strip()


def head_text_with_date(head_text: str | None, day: date) -> str:
    """The delivery date first, then the rest of the head text as it was."""
    rest = without_delivery_paragraph(head_text)
    return f"{delivery_paragraph(day)}\n{rest}" if rest else delivery_paragraph(day)


def date_fields(day: date, *, in_head_text: bool) -> JsonObject:
    """The invoice header fields that carry the delivery date (part of the payload fingerprint)."""
    if in_head_text:
        return {"headText": delivery_paragraph(day)}
    return {"deliveryDate": document_date(day)}


def date_fields_for_draft(
    header: JsonObject, draft: JsonObject, day: date, *, in_head_text: bool
) -> JsonObject:
    """The header of an update of an existing draft: its own head text kept, the date placed as the
    tenant's rule says; a delivery date it still has is cleared when the date goes in the head text."""
    current = draft.get("headText")
    if in_head_text:
        cleared = {"deliveryDate": None} if draft.get("deliveryDate") else {}
        return {**header, **cleared, "headText": head_text_with_date(current, day)}
    stripped = without_delivery_paragraph(current)
    if stripped != (current or "").strip():
        # The date moved back to deliveryDate (the setting was turned off): no second statement of it.
        return {**header, "headText": stripped or None}
    return header
