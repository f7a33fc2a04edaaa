"""The checks of an invoice's document: inline base64, the type judged by the bytes, the declared
content type and filename, and the allow-list of urls (CONTRACT section 9)."""

from __future__ import annotations

import base64
from contextlib import AbstractContextManager

import pytest

from sevsync.sync.document_urls import UrlPrefix, check_url, parse_prefixes
from sevsync.sync.documents import (
    DocumentInvalid,
    DocumentKind,
    check_content_type,
    check_document,
    check_filename,
    decode_inline,
    judge,
    max_base64_length,
)

LIMIT = 10 * 1024 * 1024

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ZUGFERD_PDF = b"%PDF-1.7\n2 0 obj << /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) >> endobj\n%%EOF\n"
CII_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
    b"<rsm:ExchangedDocument/></rsm:CrossIndustryInvoice>"
)
UBL_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>RE-1</ID></Invoice>'
)
UBL_CREDIT_NOTE = (
    b'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"><ID>1</ID></CreditNote>'
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol9;</Invoice>"""

ACCEPTED = [
    (PDF, DocumentKind.PDF, "application/pdf", "RE-1001.pdf"),
    (ZUGFERD_PDF, DocumentKind.ZUGFERD_PDF, "application/pdf", "RE-1001.PDF"),
    (CII_XML, DocumentKind.CII_XML, "application/xml", "RE-1001.xml"),
    (UBL_XML, DocumentKind.UBL_XML, "text/xml; charset=utf-8", "xrechnung RE 1001.xml"),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _refused(match: str) -> AbstractContextManager[pytest.ExceptionInfo[DocumentInvalid]]:
    return pytest.raises(DocumentInvalid, match=match)


# -- accepted documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "kind", "content_type", "filename"), ACCEPTED)
def test_each_accepted_type_is_judged_by_its_bytes(
    data: bytes, kind: DocumentKind, content_type: str, filename: str
) -> None:
    decoded = decode_inline(_b64(data), max_bytes=LIMIT)
    assert decoded == data
    assert check_document(filename, content_type, decoded, max_bytes=LIMIT) is kind


@pytest.mark.parametrize(
    "marker",
    [b"zugferd-invoice.xml", b"ZUGFeRD-invoice.xml", b"xrechnung.xml", b"<rsm:CrossIndustryInvoice xmlns"],
)
def test_a_pdf_naming_a_zugferd_attachment_or_holding_cii_is_a_zugferd_pdf(marker: bytes) -> None:
    assert judge(b"%PDF-1.4\n" + marker + b"\n%%EOF") is DocumentKind.ZUGFERD_PDF


def test_a_pdf_only_mentioning_the_word_invoice_is_a_plain_pdf() -> None:
    assert judge(b"%PDF-1.4\n(Invoice CrossIndustryInvoiceNumber factur-x)\n%%EOF") is DocumentKind.PDF


def test_xml_with_a_byte_order_mark_or_leading_whitespace_is_accepted() -> None:
    assert judge(b"\xef\xbb\xbf" + UBL_XML) is DocumentKind.UBL_XML
    # Without an XML declaration, which must come first, whitespace may precede the root.
    assert judge(b"\n  " + UBL_XML.split(b"\n", 1)[1]) is DocumentKind.UBL_XML


def test_cii_without_a_prefix_is_still_cii() -> None:
    xml = b'<CrossIndustryInvoice xmlns="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>'
    assert judge(xml) is DocumentKind.CII_XML


# -- content type ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        (DocumentKind.PDF, "application/xml"),
        (DocumentKind.PDF, "text/xml"),
        (DocumentKind.PDF, "application/octet-stream"),
        (DocumentKind.PDF, "application/x-pdf"),
        (DocumentKind.PDF, ""),
        (DocumentKind.ZUGFERD_PDF, "application/xml"),
        (DocumentKind.ZUGFERD_PDF, "image/jpeg"),
        (DocumentKind.CII_XML, "application/pdf"),
        (DocumentKind.CII_XML, "text/plain"),
        (DocumentKind.UBL_XML, "application/pdf"),
        (DocumentKind.UBL_XML, "application/xml-dtd"),
        (DocumentKind.UBL_XML, "application/xmlx; charset=utf-8"),
    ],
)
def test_a_content_type_disagreeing_with_the_bytes_is_refused(kind: DocumentKind, content_type: str) -> None:
    with _refused("content_type does not match"):
        check_content_type(content_type, kind)


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        (DocumentKind.PDF, "APPLICATION/PDF"),
        (DocumentKind.ZUGFERD_PDF, " application/pdf ; name=x.pdf"),
        (DocumentKind.CII_XML, "text/xml;charset=UTF-8"),
        (DocumentKind.UBL_XML, "Application/XML"),
    ],
)
def test_case_and_parameters_of_the_content_type_are_ignored(kind: DocumentKind, content_type: str) -> None:
    check_content_type(content_type, kind)


def test_the_declared_content_type_is_never_quoted() -> None:
    with pytest.raises(DocumentInvalid) as refusal:
        check_content_type("text/html; secret=SGVsbG8gd29ybGQ=", DocumentKind.PDF)
    assert "SGVsbG8" not in str(refusal.value)
    assert "html" not in str(refusal.value)


# -- base64 and size ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "JVBERi0x*C43",  # a character outside the alphabet
        "JVBERi0xLjc",  # missing padding
        "JVBERi0xLjc==",  # too much padding
        "JVBE Ri0xLjc=",  # whitespace
        "JVBERi0xLjc=\n",  # a trailing line break
        "JVBERi0xLjc=JVBE",  # data after padding
        "====",  # nothing but padding
        "JVBERi0x_-C4",  # the url-safe alphabet
        "JVBERi0xLjcé",  # non-ASCII
    ],
)
def test_malformed_base64_is_refused(text: str) -> None:
    with _refused("not valid base64"):
        decode_inline(text, max_bytes=LIMIT)


def test_an_empty_document_is_refused() -> None:
    with _refused("empty"):
        decode_inline("", max_bytes=LIMIT)
    with _refused("empty"):
        check_document("a.pdf", "application/pdf", b"", max_bytes=LIMIT)


# 81 bytes: a multiple of 3, so its base64 text is as long as that of 79 or 80 bytes.
PDF_81 = PDF + b"\n" * (81 - len(PDF))


@pytest.mark.parametrize("limit", [81, 82, 83])
def test_a_document_exactly_at_or_under_the_limit_is_accepted(limit: int) -> None:
    assert decode_inline(_b64(PDF_81), max_bytes=limit) == PDF_81


@pytest.mark.parametrize("limit", [80, 79])
def test_a_document_one_or_two_bytes_over_the_limit_is_refused_by_its_decoded_size(limit: int) -> None:
    # The base64 text fits the bound for these limits; only the decoded size is over.
    assert len(_b64(PDF_81)) <= max_base64_length(limit)
    with _refused(f"has 81 bytes, more than the limit of {limit}"):
        decode_inline(_b64(PDF_81), max_bytes=limit)


def test_a_base64_text_too_long_for_the_limit_is_refused_before_decoding() -> None:
    with _refused("larger than the limit of 78 bytes"):
        decode_inline(_b64(PDF_81), max_bytes=78)


def test_fetched_bytes_over_the_limit_are_refused() -> None:
    with _refused(f"has {len(PDF)} bytes"):
        check_document("a.pdf", "application/pdf", PDF, max_bytes=len(PDF) - 1)


def test_an_enormous_base64_text_is_refused_without_being_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("decoded")

    monkeypatch.setattr("base64.b64decode", no_decoding)
    with _refused("larger than the limit of 3000 bytes"):
        decode_inline("A" * 50_000_000, max_bytes=3000)
    # One character past the longest text that can fit is enough to refuse.
    with _refused("larger than the limit"):
        decode_inline("A" * (max_base64_length(3000) + 4), max_bytes=3000)


@pytest.mark.parametrize(
    ("limit", "length"), [(1, 4), (2, 4), (3, 4), (4, 8), (10 * 1024 * 1024, 13_981_016)]
)
def test_the_base64_bound_is_the_padded_length_of_the_limit(limit: int, length: int) -> None:
    assert max_base64_length(limit) == length
    assert len(_b64(b"x" * limit)) == length


# -- what is not a document -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04zip",
        b"\x89PNG\r\n\x1a\n",
        b" %PDF-1.7 with a leading space",
        b"%PDF1.7 without the dash",
        b"plain text",
        b"\x00\x01\x02",
    ],
)
def test_anything_but_pdf_or_xml_is_refused(data: bytes) -> None:
    with _refused("neither a PDF nor XML"):
        judge(data)


def test_a_ubl_credit_note_is_refused() -> None:
    with _refused("neither a CII CrossIndustryInvoice nor a UBL Invoice"):
        judge(UBL_CREDIT_NOTE)


@pytest.mark.parametrize(
    "data",
    [
        b"<Invoice/>",  # no namespace
        b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-1"/>',
        b'<x:Other xmlns:x="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>',
        b"<html><body>Invoice</body></html>",
    ],
)
def test_xml_with_another_root_is_refused(data: bytes) -> None:
    with _refused("root is neither"):
        judge(data)


@pytest.mark.parametrize(
    "data",
    [
        UBL_XML[:-5],
        b"<Invoice",
        UBL_XML + b"<Invoice/>",
        b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&undefined;</Invoice>',
        b'<?xml version="1.0" encoding="UTF-16"?>\n' + UBL_XML.split(b"\n", 1)[1] + b"<",
    ],
)
def test_broken_xml_is_refused_with_its_position_only(data: bytes) -> None:
    with _refused(r"not well-formed \(line \d+, column \d+\)$"):
        judge(data)


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        b'<!DOCTYPE Invoice SYSTEM "file:///etc/passwd">' + UBL_XML.split(b"\n", 1)[1],
        b"<!doctype html><Invoice/>",
        b"<Invoice><!-- <!ENTITY x 'y'> --></Invoice>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://evil.test/">%p;]><x/>',
    ],
)
def test_xml_declaring_a_doctype_or_entity_is_refused_before_parsing(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parser(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr("xml.etree.ElementTree.XMLParser", no_parser)
    with _refused("DOCTYPE or an entity declaration"):
        judge(data)


def test_xml_in_another_encoding_than_utf8_is_refused() -> None:
    # A scan for "<!DOCTYPE" would miss it in UTF-16, which expat reads after a byte order mark.
    with _refused("neither a PDF nor XML"):
        judge(BILLION_LAUGHS.decode("ascii").encode("utf-16"))
    with _refused("not UTF-8"):
        judge('<?xml version="1.0" encoding="ISO-8859-1"?><Invoice>Müller</Invoice>'.encode("latin-1"))
    # Without a byte order mark UTF-16 bytes are valid UTF-8 holding NULs, which the parser refuses.
    with _refused("not well-formed"):
        judge(b"<" + BILLION_LAUGHS.decode("ascii").encode("utf-16-le"))


# -- filenames ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("", "empty"),
        (" RE-1.pdf", "whitespace"),
        ("RE-1.pdf\n", "whitespace"),
        ("../RE-1.pdf", "path separator"),
        ("dir/RE-1.pdf", "path separator"),
        ("..\\RE-1.pdf", "path separator"),
        ("C:\\temp\\RE-1.pdf", "path separator"),
        ("RE-1\x00.pdf", "control character"),
        ("RE-1\x1b[31m.pdf", "control character"),
        ("RE\u00ad-\ud800.pdf", "not valid Unicode"),
        ("x" * 252 + ".pdf", "256 bytes"),
        ("ä" * 126 + ".pdf", "256 bytes"),
        (".pdf", "does not end in .pdf"),
        ("RE-1", "does not end in .pdf"),
        ("RE-1.xml", "does not end in .pdf"),
        ("RE-1.pdf.exe", "does not end in .pdf"),
        ("RE-1.pdf.", "does not end in .pdf"),
    ],
)
def test_a_filename_trick_is_refused(filename: str, reason: str) -> None:
    with _refused(reason):
        check_filename(filename, DocumentKind.PDF)


def test_an_xml_document_needs_an_xml_name() -> None:
    with _refused("does not end in .xml"):
        check_filename("RE-1.pdf", DocumentKind.UBL_XML)
    check_filename("RE-1.XML", DocumentKind.CII_XML)


@pytest.mark.parametrize("filename", ["x" * 251 + ".pdf", "Rechnung Müller & Söhne (2026).pdf", "..a.pdf"])
def test_an_ordinary_or_longest_filename_is_accepted(filename: str) -> None:
    check_filename(filename, DocumentKind.ZUGFERD_PDF)


def test_a_refused_filename_is_not_quoted() -> None:
    with pytest.raises(DocumentInvalid) as refusal:
        check_filename("../" + "SGVsbG8" * 50 + ".pdf", DocumentKind.PDF)
    assert "SGVsbG8" not in str(refusal.value)


# -- refusals never carry the document ------------------------------------------------------------

SECRET = b"%PDF-1.7 TOP-SECRET-CONTENT " + b"Q" * 64


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "limit"),
    [
        ("a.pdf", "application/xml", SECRET, LIMIT),
        ("a.xml", "application/pdf", SECRET, LIMIT),
        ("a.pdf", "application/pdf", SECRET, 10),
        ("a.xml", "application/xml", b"<x>TOP-SECRET-CONTENT</x>", LIMIT),
        ("a.xml", "application/xml", b"<x>TOP-SECRET-CONTENT</y>", LIMIT),
        ("a.xml", "application/xml", b"<!DOCTYPE x><x>TOP-SECRET-CONTENT</x>", LIMIT),
        ("a.pdf", "application/pdf", b"TOP-SECRET-CONTENT", LIMIT),
    ],
)
def test_a_refusal_never_contains_the_bytes_or_base64(
    filename: str, content_type: str, data: bytes, limit: int
) -> None:
    encoded = _b64(data)
    with pytest.raises(DocumentInvalid) as refusal:
        check_document(filename, content_type, decode_inline(encoded, max_bytes=limit), max_bytes=limit)
    text = str(refusal.value)
    assert "TOP-SECRET" not in text
    assert encoded[:16] not in text
    assert "Q" * 8 not in text


def test_a_refused_base64_text_is_never_quoted() -> None:
    for text in ("SGVsbG8gd29ybGQ*", "SGVsbG8gd29ybGQ", "SGVsbG8gd29ybGQ=" * 1000):
        with pytest.raises(DocumentInvalid) as refusal:
            decode_inline(text, max_bytes=100)
        assert "SGVsbG8" not in str(refusal.value)


# -- urls -----------------------------------------------------------------------------------------

PREFIXES = parse_prefixes(
    [
        "https://files.example.com/invoices/",
        "https://docs.example.com:8443/crm",
        "http://intranet.local/exports/",
        "https://bare.example.com",
    ]
)


@pytest.mark.parametrize(
    "url",
    [
        "https://files.example.com/invoices/RE-1001.pdf",
        "https://files.example.com/invoices/2026/12/RE-1001.pdf",
        "https://files.example.com/invoices/RE-1001.pdf?X-Amz-Signature=abc&X-Amz-Expires=60",
        "https://files.example.com/invoices/RE%201001.pdf",
        "https://files.example.com/invoices/.hidden.pdf",
        "https://files.example.com/invoices/..pdf",
        "https://docs.example.com:8443/crm/RE-1.xml",
        "http://intranet.local/exports/RE-1.pdf",
        "https://bare.example.com/anything/RE-1.pdf",
        # "@" in the path is no user information: the host is still files.example.com.
        "https://files.example.com/invoices/@evil.test.pdf",
    ],
)
def test_a_url_under_a_prefix_is_allowed(url: str) -> None:
    check_url(url, PREFIXES)


@pytest.mark.parametrize(
    "url",
    [
        # The host goes on where the prefix ends.
        "https://bare.example.com.evil.test/RE-1.pdf",
        "https://bare.example.com%2eevil.test/RE-1.pdf",
        # User information: the real host is after "@".
        "https://bare.example.com@evil.test/RE-1.pdf",
        "https://bare.example.com:pw@evil.test/RE-1.pdf",
        # Leaving the prefix's path.
        "https://files.example.com/invoices/../secret.pdf",
        "https://files.example.com/invoices/%2e%2e/secret.pdf",
        "https://files.example.com/invoices/%2E%2e/secret.pdf",
        "https://files.example.com/invoices/.%2E/secret.pdf",
        "https://files.example.com/invoices/./RE-1.pdf",
        "https://files.example.com/invoices/..%2fsecret.pdf",
        "https://files.example.com/invoices/..%5Csecret.pdf",
        "https://files.example.com/invoices/..\\secret.pdf",
        "https://files.example.com/invoices-old/RE-1.pdf",
        "https://files.example.com/invoices/",
        "https://files.example.com/invoices",
        "https://docs.example.com:8443/crm-other/RE-1.xml",
        "https://docs.example.com:8443/crm",
        # Another scheme or port than the prefix.
        "http://files.example.com/invoices/RE-1.pdf",
        "HTTPS://files.example.com/invoices/RE-1.pdf",
        "https://intranet.local/exports/RE-1.pdf",
        "https://docs.example.com/crm/RE-1.xml",
        "https://docs.example.com:8444/crm/RE-1.xml",
        "https://bare.example.com:8443/RE-1.pdf",
        "https://bare.example.com:99999/RE-1.pdf",
        "https://bare.example.com:port/RE-1.pdf",
        "ftp://files.example.com/invoices/RE-1.pdf",
        "file:///etc/passwd",
        # What a parser forgives but a check must not.
        "https://files.example.com/invoices/RE-1.pdf#x",
        "https://files.example.com/invoices/RE\t-1.pdf",
        "https://files.example.com/invoices/RE-1.pdf\n",
        " https://files.example.com/invoices/RE-1.pdf",
        "https://files.example.com/invoices/RÉ-1.pdf",
        "https://files.example.com/invoices/" + "a" * 2048 + ".pdf",
        "",
        "/invoices/RE-1.pdf",
        "//files.example.com/invoices/RE-1.pdf",
    ],
)
def test_a_url_trick_is_refused(url: str) -> None:
    with _refused("document url"):
        check_url(url, PREFIXES)


def test_no_url_is_allowed_without_prefixes() -> None:
    with _refused("under no allowed prefix"):
        check_url("https://files.example.com/invoices/RE-1.pdf", ())


def test_a_refused_url_is_never_quoted() -> None:
    url = "https://evil.test/RE-1.pdf?token=SECRET-TOKEN"
    with pytest.raises(DocumentInvalid) as refusal:
        check_url(url, PREFIXES)
    assert "SECRET" not in str(refusal.value)
    assert "evil" not in str(refusal.value)


def test_a_prefix_is_parsed_into_its_parts() -> None:
    assert parse_prefixes(["https://Docs.Example.com:8443/crm"]) == (
        UrlPrefix("https://Docs.Example.com:8443/crm", "https", "docs.example.com", 8443, "/crm/"),
    )
    assert parse_prefixes(["http://intranet.local"])[0].port == 80
    assert parse_prefixes(["https://[::1]/x/"])[0].host == "::1"


@pytest.mark.parametrize(
    "prefix",
    [
        "files.example.com/invoices/",
        "ftp://files.example.com/",
        "https://user@files.example.com/",
        "https://files.example.com/invoices/?sig=1",
        "https://files.example.com/invoices/#top",
        "https://files.example.com/invoices/../",
        "https://files.example.com:0x1bb/",
        "https:///invoices/",
        "https://files.example.com/in voices/",
    ],
)
def test_a_malformed_prefix_is_refused_when_configured(prefix: str) -> None:
    with pytest.raises(ValueError, match="document url prefix"):
        parse_prefixes([prefix])
