"""The change hash of an invoice.issued: its document left out, links written before it matched."""

from __future__ import annotations

from sevsync.sync.contact_mapping import fingerprint
from sevsync.sync.vouchers import voucher_fingerprints
from sevsync_events.payloads import Invoice

from ..samples import crm_invoice

INLINE = {"filename": "R-1.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjcK"}
SIGNED = {"filename": "R-1.pdf", "content_type": "application/pdf", "url": "https://f.example/R-1.pdf?sig=a"}


def test_the_document_does_not_change_the_hash() -> None:
    bare = voucher_fingerprints(Invoice.model_validate(crm_invoice()))
    resigned = {**SIGNED, "url": "https://f.example/R-1.pdf?sig=b"}
    for document in (INLINE, SIGNED, resigned):
        assert voucher_fingerprints(Invoice.model_validate(crm_invoice(document=document))) == bare
    changed = Invoice.model_validate(crm_invoice(number="R-other", document=SIGNED))
    assert voucher_fingerprints(changed)[0] != bare[0]


def test_the_hashes_links_hold_already_still_match() -> None:
    invoice = Invoice.model_validate(crm_invoice())
    current, earlier = voucher_fingerprints(invoice)
    # Written since `document` exists: the whole dump, `"document": null` included.
    assert current == fingerprint(invoice.model_dump(mode="json"))
    # Written before it existed: the dump had no such key.
    assert earlier == fingerprint(invoice.model_dump(mode="json", exclude={"document"}))
