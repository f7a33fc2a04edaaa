"""What an uploaded file is, judged by its bytes (never by a name or a declared content type).

Accepted, as sevsync uploads them (CONTRACT section 9): a PDF (starts ``%PDF-``); a ZUGFeRD /
Factur-X PDF, i.e. a PDF carrying the invoice XML as an attachment; an XRechnung XML whose root is
a CII ``CrossIndustryInvoice`` or a UBL ``Invoice``. Anything else is :class:`Refused`.

ZUGFeRD is recognised simply: the PDF's bytes name one of the attachment file names the ZUGFeRD and
Factur-X standards prescribe (they stay readable in the PDF's file specification even when the XML
stream itself is compressed), or hold an uncompressed ``CrossIndustryInvoice`` root. The sandbox
does not open PDF streams.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

PDF_MAGIC = b"%PDF-"
# Attachment names of ZUGFeRD 1.0, 2.0, Factur-X / ZUGFeRD 2.1+ and their XRechnung profile.
ZUGFERD_MARKERS = (b"zugferd-invoice.xml", b"factur-x.xml", b"xrechnung.xml", b"<rsm:crossindustryinvoice")
CII_NAMESPACE = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_INVOICE_NAMESPACE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
E_INVOICE_ROOTS = frozenset(
    {f"{{{CII_NAMESPACE}}}CrossIndustryInvoice", f"{{{UBL_INVOICE_NAMESPACE}}}Invoice"}
)

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"


class Refused(ValueError):
    """The bytes are no file the sandbox takes; the message says why."""


@dataclass(frozen=True)
class FileType:
    extension: str
    origin_mime_type: str
    # What sevDesk keeps for display: a PDF was answered as ``image/jpg`` (its preview, RS capture).
    mime_type: str
    pages: int
    e_invoice: bool


def judge(data: bytes) -> FileType:
    """The type of ``data``; raises :class:`Refused` for anything but PDF or e-invoice XML."""
    if not data:
        raise Refused("the file is empty")
    if data.startswith(PDF_MAGIC):
        lowered = data.lower()
        zugferd = any(marker in lowered for marker in ZUGFERD_MARKERS)
        pages = max(1, len(_PAGE.findall(data)))
        return FileType("pdf", "application/pdf", "image/jpg", pages, zugferd)
    text = data.removeprefix(_BYTE_ORDER_MARK).lstrip()
    if text.startswith(b"<"):
        root = _xml_root(text)
        if root not in E_INVOICE_ROOTS:
            raise Refused(f"XML root {root} is neither a CII CrossIndustryInvoice nor a UBL Invoice")
        return FileType("xml", "application/xml", "application/xml", 1, True)
    raise Refused("only PDF, ZUGFeRD PDF and XRechnung XML (CII or UBL) files are accepted")


def _xml_root(text: bytes) -> str:
    # E-invoices carry no DTD; refusing one keeps entity expansion out of the sandbox.
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise Refused("XML with a DOCTYPE is not accepted")
    try:
        return ElementTree.fromstring(text).tag  # noqa: S314 - no DTD, so no entity expansion
    except ElementTree.ParseError as exc:
        raise Refused(f"the XML is not well-formed: {exc}") from None
