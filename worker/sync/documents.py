"""Pure checks of the document an ``invoice.issued`` event may carry (CONTRACT section 9). No I/O here.

A document is accepted only as a PDF, a ZUGFeRD / Factur-X PDF, or an e-invoice XML whose root is a
CII ``CrossIndustryInvoice`` or a UBL ``Invoice``; its type is judged by its bytes and must agree with
the declared ``content_type`` and the filename's extension. Anything else raises
:class:`DocumentInvalid`, whose text is safe to record: it names at most the filename (once that
passed its own check), sizes and types, never the bytes, the base64 text, the content type as sent
or a url.

Decisions (the contract leaves them open):

- Inline base64 is the standard alphabet with padding and without any whitespace or line breaks
  (RFC 4648 section 4, as a JSON string carries it); the url-safe alphabet is refused.
- A PDF starts with ``%PDF-`` at its very first byte. A ZUGFeRD PDF is recognised without opening
  PDF streams: its bytes name an attachment file the ZUGFeRD, Factur-X or XRechnung standards
  prescribe (the file specification stays readable even when the XML stream is compressed) or hold
  an uncompressed ``CrossIndustryInvoice`` element. This is a heuristic; a plain PDF that quotes
  such a name is judged a ZUGFeRD PDF, which changes nothing but the label.
- XML must be UTF-8 (XRechnung requires it; a BOM is allowed) and may carry no DOCTYPE and no
  entity declaration; both are refused before any parser sees the bytes, so nothing is expanded.
  The parser is then told UTF-8 whatever the XML declaration claims, so the scan and the parse
  read the same text.
- Content types: ``application/pdf`` for both PDFs; ``application/xml`` or ``text/xml`` for XML.
  Case and parameters (``; charset=utf-8``) are ignored; the bytes decide the encoding.
- Filenames: at most 255 bytes of UTF-8, no path separator (``/``, ``\\``), no control character,
  no leading or trailing whitespace, a non-empty name before the extension, and the extension
  ``.pdf`` for PDFs or ``.xml`` for XML (any case).
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ElementTree
from enum import Enum


class DocumentInvalid(Exception):
    """The document is refused (reason ``document_invalid``); the text says why and is safe to record."""


class DocumentKind(Enum):
    PDF = "PDF"
    ZUGFERD_PDF = "ZUGFeRD PDF"
    CII_XML = "CII XML"
    UBL_XML = "UBL XML"

    @property
    def is_pdf(self) -> bool:
        return self in (DocumentKind.PDF, DocumentKind.ZUGFERD_PDF)


PDF_MAGIC = b"%PDF-"
CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
UBL_INVOICE_ROOT = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
_XML_KINDS = {CII_ROOT: DocumentKind.CII_XML, UBL_INVOICE_ROOT: DocumentKind.UBL_XML}

# Attachment names of ZUGFeRD 1.0 and 2.0, Factur-X / ZUGFeRD 2.1+, and their XRechnung profile.
_ZUGFERD_MARKER = re.compile(
    rb"zugferd-invoice\.xml|factur-x\.xml|xrechnung\.xml|<(?:[A-Za-z_][\w.-]*:)?CrossIndustryInvoice[\s>/]",
    re.IGNORECASE,
)
# Matched on the decoded text, in any case: expat would refuse a lower-case one, but refusing it
# here too keeps the rule simple to state.
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"

PDF_CONTENT_TYPES = frozenset({"application/pdf"})
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})

MAX_FILENAME_BYTES = 255
_FILENAME_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


def max_base64_length(max_bytes: int) -> int:
    """The longest base64 text (padded, no whitespace) whose decoded bytes can fit in ``max_bytes``."""
    return -(-max_bytes // 3) * 4


def decode_inline(content_base64: str, *, max_bytes: int) -> bytes:
    """The bytes of an inline document, strictly decoded and at most ``max_bytes`` long.

    The length of the text is bounded before decoding, so an absurdly long string costs nothing;
    the exact limit is then checked on the decoded bytes.
    """
    if not content_base64:
        raise DocumentInvalid("the document is empty")
    if len(content_base64) > max_base64_length(max_bytes):
        raise DocumentInvalid(
            f"the document is larger than the limit of {max_bytes} bytes "
            f"({len(content_base64)} base64 characters)"
        )
    try:
        data = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError):
        # The exception's text can quote the input; only the fact is recorded.
        raise DocumentInvalid("content_base64 is not valid base64 (standard alphabet, padded)") from None
    check_size(data, max_bytes=max_bytes)
    return data


def check_size(data: bytes, *, max_bytes: int) -> None:
    """Refuses an empty document or one larger than ``max_bytes`` (decoded bytes count)."""
    if not data:
        raise DocumentInvalid("the document is empty")
    if len(data) > max_bytes:
        raise DocumentInvalid(f"the document has {len(data)} bytes, more than the limit of {max_bytes}")


def check_document(filename: str, content_type: str, data: bytes, *, max_bytes: int) -> DocumentKind:
    """Every check of a document's bytes in hand (decoded or fetched); answers what it is."""
    check_size(data, max_bytes=max_bytes)
    kind = judge(data)
    check_content_type(content_type, kind)
    check_filename(filename, kind)
    return kind


def judge(data: bytes) -> DocumentKind:
    """What ``data`` is, by its bytes alone; refuses anything but PDF or e-invoice XML."""
    if data.startswith(PDF_MAGIC):
        return DocumentKind.ZUGFERD_PDF if _ZUGFERD_MARKER.search(data) else DocumentKind.PDF
    text = data.removeprefix(_BYTE_ORDER_MARK)
    if text.lstrip().startswith(b"<"):
        return _judge_xml(text)
    raise DocumentInvalid("the document is neither a PDF nor XML")


def _judge_xml(data: bytes) -> DocumentKind:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentInvalid("the XML is not UTF-8") from None
    if _DECLARATION.search(text):
        raise DocumentInvalid("XML with a DOCTYPE or an entity declaration is not accepted")
    # No DTD can be declared (refused above), so expat expands nothing but the predefined entities.
    parser = ElementTree.XMLParser(encoding="utf-8")  # noqa: S314 - no DTD, see above
    try:
        parser.feed(data)
        root = parser.close()
    except ElementTree.ParseError as exc:
        line, column = exc.position
        raise DocumentInvalid(f"the XML is not well-formed (line {line}, column {column})") from None
    kind = _XML_KINDS.get(root.tag)
    if kind is None:
        raise DocumentInvalid("the XML root is neither a CII CrossIndustryInvoice nor a UBL Invoice")
    return kind


def check_content_type(content_type: str, kind: DocumentKind) -> None:
    """Refuses a declared content type that disagrees with the judged ``kind``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    accepted = PDF_CONTENT_TYPES if kind.is_pdf else XML_CONTENT_TYPES
    if media_type not in accepted:
        # The declared text is not quoted: it is the sender's and could hold anything.
        names = ", ".join(sorted(accepted))
        raise DocumentInvalid(f"content_type does not match the document, a {kind.value} (accepted: {names})")


def check_filename(filename: str, kind: DocumentKind) -> None:
    """Refuses a filename that could name a path or does not end in the judged type's extension."""
    if not filename or filename != filename.strip():
        raise DocumentInvalid("the filename is empty or starts or ends with whitespace")
    try:
        size = len(filename.encode("utf-8"))
    except UnicodeEncodeError:
        raise DocumentInvalid("the filename is not valid Unicode text") from None
    if size > MAX_FILENAME_BYTES:
        raise DocumentInvalid(f"the filename has {size} bytes, more than {MAX_FILENAME_BYTES}")
    if _FILENAME_FORBIDDEN.search(filename):
        raise DocumentInvalid("the filename contains a path separator or a control character")
    stem, dot, extension = filename.rpartition(".")
    expected = "pdf" if kind.is_pdf else "xml"
    if not dot or not stem or extension.lower() != expected:
        raise DocumentInvalid(f"the filename {filename!r} does not end in .{expected} for a {kind.value}")
