"""An invoice's document brought in before the voucher is written: inline or fetched through the
fetcher seam (a fake here), checked, and every refusal turned into the event's outcome."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from sevsync.outcome_words import DEAD, DOCUMENT_INVALID, DOCUMENT_UNAVAILABLE, RETRIES_EXHAUSTED
from sevsync.sync.document_fetch import DocumentUnavailable
from sevsync.sync.document_intake import DocumentIntake, invoice_document
from sevsync.sync.document_urls import parse_prefixes
from sevsync.sync.documents import DocumentInvalid, DocumentKind
from sevsync.sync.result import SyncFailure, WaitingFor
from sevsync_events.payloads import Invoice

from ..samples import crm_invoice

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
URL = "https://files.example/invoices/R-1.pdf?signature=s3cr3t-signature"
PREFIXES = parse_prefixes(["https://files.example/invoices/"])


@dataclass
class FakeFetcher:
    """Answers every fetch with `answer` (bytes, or an exception to raise) and records the urls."""

    answer: bytes | Exception = PDF
    urls: list[str] = field(default_factory=list)

    async def fetch(self, url: str, *, max_bytes: int) -> bytes:
        self.urls.append(url)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _invoice(**document: Any) -> Invoice:
    return Invoice.model_validate(
        crm_invoice(document={"filename": "R-1.pdf", "content_type": "application/pdf", **document})
    )


async def test_an_inline_document_is_decoded_and_judged() -> None:
    inline = _invoice(content_base64=base64.b64encode(PDF).decode())
    document = await invoice_document(DocumentIntake(), inline)
    assert document is not None
    assert (document.filename, document.kind, document.data) == ("R-1.pdf", DocumentKind.PDF, PDF)
    assert "%PDF" not in repr(document)


async def test_an_invoice_without_a_document_has_none() -> None:
    assert await invoice_document(DocumentIntake(), Invoice.model_validate(crm_invoice())) is None


async def test_a_url_under_a_prefix_is_fetched_and_checked() -> None:
    fetcher = FakeFetcher()
    document = await invoice_document(DocumentIntake(prefixes=PREFIXES, fetcher=fetcher), _invoice(url=URL))
    assert document is not None
    assert document.data == PDF
    assert fetcher.urls == [URL]


@pytest.mark.parametrize(
    "url", ["https://files.example/other/R-1.pdf", "https://files.example.evil.test/invoices/R-1.pdf"]
)
async def test_a_url_under_no_prefix_is_refused_unfetched(url: str) -> None:
    fetcher = FakeFetcher()
    with pytest.raises(SyncFailure) as info:
        await invoice_document(DocumentIntake(prefixes=PREFIXES, fetcher=fetcher), _invoice(url=url))
    assert (info.value.reason, info.value.message) == (
        DOCUMENT_INVALID,
        "invoice 2531-Ljnk-278: the document url is under no allowed prefix",
    )
    assert fetcher.urls == []


async def test_without_prefixes_every_url_is_refused() -> None:
    fetcher = FakeFetcher()
    with pytest.raises(SyncFailure, match="under no allowed prefix"):
        await invoice_document(DocumentIntake(fetcher=fetcher), _invoice(url=URL))
    assert fetcher.urls == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (PNG, "neither a PDF nor XML"),
        (PDF * 10, "more than the limit of 100"),
        (DocumentInvalid("the document url answered HTTP 404"), "HTTP 404"),
    ],
    ids=["wrong-type", "too-large", "fetch-refused"],
)
async def test_a_fetched_document_that_is_not_acceptable_fails_document_invalid(
    answer: bytes | Exception, message: str
) -> None:
    intake = DocumentIntake(max_bytes=100, prefixes=PREFIXES, fetcher=FakeFetcher(answer))
    with pytest.raises(SyncFailure) as info:
        await invoice_document(intake, _invoice(url=URL))
    assert info.value.reason == DOCUMENT_INVALID
    assert message in info.value.message
    assert "s3cr3t" not in info.value.message


async def test_a_document_that_cannot_be_fetched_now_waits_on_the_ladder() -> None:
    fetcher = FakeFetcher(DocumentUnavailable("the document url answered HTTP 503"))
    with pytest.raises(WaitingFor) as info:
        await invoice_document(DocumentIntake(prefixes=PREFIXES, fetcher=fetcher), _invoice(url=URL))
    waiting = info.value
    assert (waiting.reason, waiting.final_status, waiting.final_reason) == (
        DOCUMENT_UNAVAILABLE,
        DEAD,
        RETRIES_EXHAUSTED,
    )
    assert waiting.message == "invoice 2531-Ljnk-278: the document url answered HTTP 503"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"content_base64": "JVBERi0x LjcK"}, "not valid base64"),
        ({"content_base64": base64.b64encode(PDF).decode(), "content_type": "image/png"}, "content_type"),
        ({"content_base64": base64.b64encode(PDF).decode(), "filename": "R-1.xml"}, "does not end in .pdf"),
    ],
    ids=["bad-base64", "wrong-content-type", "wrong-extension"],
)
async def test_an_inline_document_that_is_not_acceptable_fails_document_invalid(
    document: dict[str, str], message: str
) -> None:
    with pytest.raises(SyncFailure) as info:
        await invoice_document(DocumentIntake(), _invoice(**document))
    assert info.value.reason == DOCUMENT_INVALID
    assert message in info.value.message
