"""Fetching an invoice's document from its url (CONTRACT section 9), once the url passed the allow-list.

One aiohttp session serves the worker's life (created on first use, closed at shutdown); it keeps
no cookies, as it serves every tenant. How an answer is taken:

- 2xx: the body, read in chunks and abandoned as soon as it passes the size limit (a declared
  ``Content-Length`` above it is refused before reading). A fetch asks for ``Accept-Encoding:
  identity`` (a document of at most the limit needs no compression). A server that compresses
  anyway (a stored object with its own ``Content-Encoding``) is still read: aiohttp undoes the
  encoding and the limit counts the decoded bytes, i.e. the document's own. aiohttp >= 3.13.3 (the
  floor in pyproject) decompresses with a bound per chunk (CVE-2025-69223), so a gzip bomb stops
  at the limit too.
- 3xx: refused (``DocumentInvalid``): redirects are not followed, as the target would escape the
  allow-list.
- 408, 429 and 5xx, a connection that fails or a timeout: ``DocumentUnavailable``, the event waits
  on the retry ladder and fetches again.
- Any other status (404, 410, 403, ...): refused. The CRM named a document the server says it will
  not give; asking again unchanged would only wait out the ladder. A replay fetches again once fixed.

No text raised here quotes the url (a signed url's query is a secret) or aiohttp's exception text,
which does quote it: only the exception's class name and the HTTP status are kept.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from .documents import DocumentInvalid

DEFAULT_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
CHUNK_BYTES = 64 * 1024
RETRYABLE_STATUSES = frozenset({408, 429})
# No compression asked for: nothing to decompress unless a server ignores it.
IDENTITY = {"Accept-Encoding": "identity"}


class DocumentUnavailable(Exception):
    """The document cannot be fetched right now; fetching it later may succeed. Safe to record."""


class DocumentFetcher(Protocol):
    """The seam the voucher handler fetches through; unit tests pass a fake."""

    async def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """The body at ``url``, at most ``max_bytes`` long; raises DocumentInvalid or DocumentUnavailable."""
        ...


class HttpDocumentFetcher:
    """Fetches over HTTP(S) with one session for the worker's life; close it at shutdown."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, user_agent: str = "sevsync") -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS))
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # trust_env stays off: no proxy or .netrc from the environment reaches a fetch. No cookie
            # is kept: the session serves every tenant, and a cookie one server set must not travel on.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": self._user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def fetch(self, url: str, *, max_bytes: int) -> bytes:
        session = self._ensure_session()
        try:
            async with session.get(url, allow_redirects=False, headers=IDENTITY) as response:
                _check_status(response.status)
                # Declared too large: refused unread (unless compressed, when only the decoded bytes count).
                encoded = response.headers.get("Content-Encoding", "identity") != "identity"
                if not encoded and (response.content_length or 0) > max_bytes:
                    raise _too_large(max_bytes)
                return await _read_capped(response, max_bytes)
        except aiohttp.InvalidURL:
            raise DocumentInvalid("the document url cannot be requested") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's own text names the url: only its kind is kept.
            raise DocumentUnavailable(f"the document could not be fetched ({type(exc).__name__})") from None


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise DocumentInvalid(f"the document url answered a redirect (HTTP {status}), which is not followed")
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise DocumentUnavailable(f"the document url answered HTTP {status}")
    raise DocumentInvalid(f"the document url answered HTTP {status}")


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, stopping as soon as it exceeds ``max_bytes`` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> DocumentInvalid:
    return DocumentInvalid(f"the document is larger than the limit of {max_bytes} bytes")
