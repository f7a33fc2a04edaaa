"""The invoice's `document` field: its shape only (exactly one source), in the model and the schema.

What the bytes are, their size and the url's prefix are checked when the event is handled
(tests/unit/test_document_check.py, tests/unit/test_voucher_documents.py).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from sevsync_events.json_schema import SCHEMA_DIR, check
from sevsync_events.payloads import Invoice, InvoiceDocument
from sevsync_events.registry import InvalidEvent, parse_inbound

from ..samples import crm_invoice

INLINE = {"filename": "R-1.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjcK"}
LINKED = {"filename": "R-1.pdf", "content_type": "application/pdf", "url": "https://files.example/R-1.pdf"}
BOTH = {**INLINE, "url": LINKED["url"]}
NEITHER = {"filename": "R-1.pdf", "content_type": "application/pdf"}


def _body(document: dict[str, Any] | None) -> bytes:
    envelope = {
        "event_id": "0b1f6a0e-3c55-4d8e-9d43-1f7f0d2b9c61",
        "event_type": "invoice.issued",
        "tenant_id": "acme",
        "occurred_at": "2026-06-01T08:00:00Z",
        "version": 1,
        "data": crm_invoice(document=document),
    }
    return json.dumps(envelope).encode()


@pytest.mark.parametrize("document", [INLINE, LINKED], ids=["inline", "url"])
def test_a_document_with_one_source_is_accepted(document: dict[str, Any]) -> None:
    event = parse_inbound(_body(document))
    assert isinstance(event.data, Invoice)
    assert event.data.document == InvoiceDocument.model_validate(document)


def test_an_invoice_without_a_document_is_accepted() -> None:
    event = parse_inbound(_body(None))
    assert isinstance(event.data, Invoice)
    assert event.data.document is None


@pytest.mark.parametrize("document", [BOTH, NEITHER], ids=["both", "neither"])
def test_both_or_neither_source_is_malformed_without_echoing_the_document(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_inbound(_body(document))
    assert info.value.reason == "malformed"
    assert info.value.detail == "data.document: a document needs exactly one of content_base64 and url"
    assert "JVBERi0" not in info.value.detail
    assert "files.example" not in info.value.detail


@pytest.mark.parametrize(
    "document",
    [
        {**INLINE, "content_base64": ""},
        {**LINKED, "url": ""},
        {**INLINE, "filename": ""},
        {**INLINE, "content_type": ""},
        {**INLINE, "size": 12},
    ],
    ids=["empty-base64", "empty-url", "empty-filename", "empty-content-type", "unknown-field"],
)
def test_empty_or_unknown_fields_are_malformed(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_inbound(_body(document))
    assert info.value.reason == "malformed"
    assert info.value.detail.startswith("data.document")


SOURCES = {
    "inline": INLINE,
    "url": LINKED,
    "inline-url-null": {**INLINE, "url": None},
    "url-inline-null": {**LINKED, "content_base64": None},
    "both": BOTH,
    "neither": NEITHER,
    "both-null": {**NEITHER, "content_base64": None, "url": None},
}


def test_the_checked_in_schema_is_current() -> None:
    assert check() == []


@pytest.mark.parametrize("document", SOURCES.values(), ids=SOURCES.keys())
def test_the_model_and_the_schema_agree_on_the_sources(document: dict[str, Any]) -> None:
    schema = json.loads((SCHEMA_DIR / "invoice.issued.json").read_text(encoding="utf-8"))
    body = _body(document)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(body)))
    try:
        parse_inbound(body)
        accepted = True
    except InvalidEvent:
        accepted = False
    assert (errors == []) is accepted, (document, errors)
