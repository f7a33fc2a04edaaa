"""Pure allow-list of the urls a document may be fetched from (CONTRACT section 9). No I/O here.

A url is allowed only when its text starts with one of the configured prefixes and, parsed, it
agrees with that prefix part by part: the same scheme (``https``; ``http`` only where the prefix
itself is ``http``), the same host and port (default ports made explicit), no user information,
and a path strictly under the prefix's path. The textual test alone would let
``https://files.example.com.evil.test/`` pass the prefix ``https://files.example.com``; the parsed
test alone would miss what a parser forgives, so both must hold.

Refused outright, before any comparison: characters outside printable ASCII (a url sent here is
already percent-encoded; ``urllib.parse`` silently drops tabs and line breaks, which would make the
text checked differ from the text fetched), backslashes (some clients read them as ``/``), a
fragment, dot segments in the path (also percent-encoded ones such as ``%2e%2e``) and encoded
slashes or backslashes (``%2f``, ``%5c``), which a server may decode into a path step.

A url is never quoted in a refusal: a signed url's query is a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from sevsync.sync.documents import DocumentInvalid

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"https": 443, "http": 80}
_PRINTABLE_ASCII = re.compile(r"[!-~]+")
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
_ENCODED_DOT = re.compile(r"%2e", re.IGNORECASE)


@dataclass(frozen=True)
class UrlPrefix:
    """One configured prefix, its text kept for the textual test and its parts for the parsed one."""

    text: str
    scheme: str
    host: str
    port: int
    # Always ends in "/", so that "/invoices" does not also admit "/invoices-old/...".
    path: str


def parse_prefixes(texts: Iterable[str]) -> tuple[UrlPrefix, ...]:
    """The configured prefixes; raises ValueError naming the first malformed one."""
    return tuple(_parse_prefix(text) for text in texts)


def _parse_prefix(text: str) -> UrlPrefix:
    try:
        parts = _split(text)
    except DocumentInvalid as exc:
        raise ValueError(f"document url prefix {text!r}: {exc}") from None
    if parts.query or text.endswith("?"):
        raise ValueError(f"document url prefix {text!r} has a query")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return UrlPrefix(text, parts.scheme, _host(parts), _port(parts), path)


def check_url(url: str, prefixes: Sequence[UrlPrefix]) -> None:
    """Refuses ``url`` unless it lies under one of ``prefixes``."""
    parts = _split(url)
    if not any(url.startswith(prefix.text) and _under(parts, prefix) for prefix in prefixes):
        raise DocumentInvalid("the document url is under no allowed prefix")


def _under(parts: SplitResult, prefix: UrlPrefix) -> bool:
    return (
        parts.scheme == prefix.scheme
        and _host(parts) == prefix.host
        and _port(parts) == prefix.port
        and parts.path.startswith(prefix.path)
        and len(parts.path) > len(prefix.path)
    )


def _split(url: str) -> SplitResult:
    """``url`` parsed, or DocumentInvalid for anything the checks above could misread."""
    if len(url) > MAX_URL_LENGTH:
        raise DocumentInvalid(f"the document url is longer than {MAX_URL_LENGTH} characters")
    if not _PRINTABLE_ASCII.fullmatch(url) or "\\" in url:
        raise DocumentInvalid("the document url holds a character outside printable ASCII or a backslash")
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise DocumentInvalid("the document url is no http(s) url with a host")
    if "@" in parts.netloc:
        raise DocumentInvalid("the document url carries user information")
    if parts.fragment or url.endswith("#"):
        raise DocumentInvalid("the document url carries a fragment")
    _port(parts)  # refuses a malformed port now, not at the comparison
    _check_path(parts.path)
    return parts


def _check_path(path: str) -> None:
    if _ENCODED_SEPARATOR.search(path):
        raise DocumentInvalid("the document url's path holds an encoded slash or backslash")
    segments = _ENCODED_DOT.sub(".", path).split("/")
    if any(segment in (".", "..") for segment in segments):
        raise DocumentInvalid("the document url's path holds a dot segment")


def _host(parts: SplitResult) -> str:
    # hostname is lower-cased by urllib; _split made sure there is one.
    return parts.hostname or ""


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise DocumentInvalid("the document url's port is not a number from 0 to 65535") from None
    return _DEFAULT_PORTS[parts.scheme] if port is None else port
