"""An invoice's document in hand: decoded or fetched, then checked, before anything is written.

`DocumentIntake` holds what the worker was configured with (the size limit, the url prefixes, the
fetcher) and is shared by every event; `invoice_document` turns its refusals into the outcomes of
CONTRACT section 9: a document that is not acceptable fails `document_invalid` (not retried,
replayable), one that cannot be fetched right now waits on the retry ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sevsync_events.payloads import Invoice, InvoiceDocument

from ..config import DEFAULT_MAX_DOCUMENT_BYTES
from ..outcome_words import DEAD, DOCUMENT_INVALID, DOCUMENT_UNAVAILABLE, RETRIES_EXHAUSTED
from .document_fetch import DocumentFetcher, DocumentUnavailable
from .document_urls import UrlPrefix, check_url
from .documents import DocumentInvalid, DocumentKind, check_document, decode_inline
from .result import SyncFailure, WaitingFor


@dataclass(frozen=True)
class Document:
    """A checked document, ready to upload; its bytes stay out of every repr."""

    filename: str
    content_type: str
    kind: DocumentKind
    data: bytes = field(repr=False)


class _NoFetcher:
    """Where no fetcher is configured (tests, tools): a url is refused, never fetched."""

    async def fetch(self, url: str, *, max_bytes: int) -> bytes:
        raise DocumentInvalid("documents are not fetched from urls here")


@dataclass(frozen=True)
class DocumentIntake:
    max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    # None configured: every url is refused by the allow-list.
    prefixes: tuple[UrlPrefix, ...] = ()
    fetcher: DocumentFetcher = field(default_factory=_NoFetcher)

    async def load(self, document: InvoiceDocument) -> Document:
        """The document's bytes, checked; raises DocumentInvalid or DocumentUnavailable."""
        if document.content_base64 is not None:
            data = decode_inline(document.content_base64, max_bytes=self.max_bytes)
        else:
            url = document.url or ""
            check_url(url, self.prefixes)  # before any request is made
            data = await self.fetcher.fetch(url, max_bytes=self.max_bytes)
        kind = check_document(document.filename, document.content_type, data, max_bytes=self.max_bytes)
        return Document(document.filename, document.content_type, kind, data)


async def invoice_document(intake: DocumentIntake, invoice: Invoice) -> Document | None:
    """The invoice's document, or None when it has none; a refusal becomes the event's outcome."""
    if invoice.document is None:
        return None
    try:
        return await intake.load(invoice.document)
    except DocumentInvalid as exc:
        # The text names sizes and types only, never the bytes or the url (documents, document_urls).
        raise SyncFailure(DOCUMENT_INVALID, f"invoice {invoice.number}: {exc}", "Voucher") from None
    except DocumentUnavailable as exc:
        raise WaitingFor(
            DOCUMENT_UNAVAILABLE, f"invoice {invoice.number}: {exc}", DEAD, RETRIES_EXHAUSTED
        ) from None
