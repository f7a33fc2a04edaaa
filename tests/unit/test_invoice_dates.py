"""Where a deal invoice states its delivery date (pure): the refusal, the head text, the update."""

from __future__ import annotations

from datetime import date

import pytest

from sevsync.sevdesk.errors import PermanentError
from sevsync.sync import invoice_dates as idt

DAY = date(2026, 11, 20)
PARAGRAPH = "<p>Leistungsdatum: 20.11.2026</p>"
REFUSAL = (
    "The invoiceDate (2026-11-20T00:00:00+01:00) must be before the deliveryDate (2026-11-20T00:00:00+01:00)"
)


def refused(status: int, message: str | None) -> PermanentError:
    return PermanentError(
        message or "refused",
        method="POST",
        path="/Invoice/Factory/saveInvoice",
        status=status,
        sevdesk_message=message,
    )


def test_the_equal_dates_refusal_is_recognised() -> None:
    assert idt.refuses_equal_dates(refused(422, REFUSAL))


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (422, "contactPerson is invalid"),
        (422, None),
        (400, REFUSAL),  # the words alone are not enough: sevDesk refuses it with 422
        (200, REFUSAL),
    ],
)
def test_other_refusals_are_not(status: int, message: str | None) -> None:
    assert not idt.refuses_equal_dates(refused(status, message))


def test_the_date_goes_in_one_of_two_fields() -> None:
    assert idt.date_fields(DAY, in_head_text=False) == {"deliveryDate": "20.11.2026"}
    assert idt.date_fields(DAY, in_head_text=True) == {"headText": PARAGRAPH}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, PARAGRAPH),
        ("", PARAGRAPH),
        ("<p>Vielen Dank.</p>", f"{PARAGRAPH}\n<p>Vielen Dank.</p>"),
        # An older date sevsync wrote is replaced, wherever it stands, not stated twice.
        ("<p>Leistungsdatum: 01.10.2026</p>\n<p>Vielen Dank.</p>", f"{PARAGRAPH}\n<p>Vielen Dank.</p>"),
        ("<p>Vielen Dank.</p>\n<p>Leistungsdatum: 01.10.2026</p>", f"{PARAGRAPH}\n<p>Vielen Dank.</p>"),
        (PARAGRAPH, PARAGRAPH),
    ],
)
def test_the_head_text_opens_with_the_date_and_keeps_the_rest(existing: str | None, expected: str) -> None:
    assert idt.head_text_with_date(existing, DAY) == expected


def test_a_persons_own_mention_of_the_date_in_running_text_is_left_alone() -> None:
    text = "<p>Die Leistungsdatum: 01.10.2026 genannte Lieferung</p>"

    assert idt.without_delivery_paragraph(text) == text


HEADER = {"invoiceDate": "20.11.2026"}


def test_an_update_in_the_head_text_keeps_the_drafts_text_and_clears_its_delivery_date() -> None:
    draft = {"headText": "<p>Vielen Dank.</p>", "deliveryDate": "2026-11-20T00:00:00+01:00"}
    header = {**HEADER, "headText": PARAGRAPH}

    assert idt.date_fields_for_draft(header, draft, DAY, in_head_text=True) == {
        **HEADER,
        "headText": f"{PARAGRAPH}\n<p>Vielen Dank.</p>",
        "deliveryDate": None,
    }


def test_an_update_in_the_head_text_of_a_draft_without_delivery_date_sends_none() -> None:
    draft = {"headText": None, "deliveryDate": None}

    assert idt.date_fields_for_draft({**HEADER, "headText": PARAGRAPH}, draft, DAY, in_head_text=True) == {
        **HEADER,
        "headText": PARAGRAPH,
    }


def test_an_update_with_the_delivery_date_field_leaves_a_foreign_head_text_alone() -> None:
    header = {**HEADER, "deliveryDate": "20.11.2026"}

    assert (
        idt.date_fields_for_draft(header, {"headText": "<p>Vielen Dank.</p>"}, DAY, in_head_text=False)
        == header
    )
    assert idt.date_fields_for_draft(header, {"headText": None}, DAY, in_head_text=False) == header


@pytest.mark.parametrize(
    ("existing", "left"),
    [(f"{PARAGRAPH}\n<p>Vielen Dank.</p>", "<p>Vielen Dank.</p>"), (PARAGRAPH, None)],
)
def test_an_update_with_the_delivery_date_field_takes_the_date_out_of_the_head_text(
    existing: str, left: str | None
) -> None:
    header = {**HEADER, "deliveryDate": "20.11.2026"}

    assert idt.date_fields_for_draft(header, {"headText": existing}, DAY, in_head_text=False) == {
        **header,
        "headText": left,
    }
