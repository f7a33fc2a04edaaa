"""The document fetcher against a local HTTP server: the size cap while streaming, redirects not
followed, and which answers wait on the ladder and which refuse the document. No text it raises
quotes the url."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from sevsync.sync.document_fetch import CHUNK_BYTES, DocumentUnavailable, HttpDocumentFetcher
from sevsync.sync.documents import DocumentInvalid

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
SECRET = "signature=s3cr3t"
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(route: Route) -> AsyncIterator[str]:
    """A local server answering every path with `route`; yields its base url."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpDocumentFetcher]:
    fetcher = HttpDocumentFetcher(timeout=5.0)
    yield fetcher
    await fetcher.close()


async def test_a_document_is_fetched_with_one_session_for_many_fetches(fetcher: HttpDocumentFetcher) -> None:
    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=PDF, content_type="application/pdf")

    async with serving(pdf) as base:
        assert await fetcher.fetch(f"{base}/a.pdf?{SECRET}", max_bytes=1000) == PDF
        session = fetcher._session
        assert await fetcher.fetch(f"{base}/b.pdf", max_bytes=1000) == PDF
        assert fetcher._session is session


async def test_a_cookie_one_server_sets_is_never_sent_again(fetcher: HttpDocumentFetcher) -> None:
    cookies: list[str | None] = []

    async def pdf(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.Response(body=PDF)
        response.set_cookie("session", "tenant-a-secret", path="/")
        return response

    async with serving(pdf) as base:
        # By name: aiohttp's default jar keeps no cookie of a bare IP address.
        base = base.replace("127.0.0.1", "localhost")
        assert await fetcher.fetch(f"{base}/tenant-a/R-1.pdf", max_bytes=1000) == PDF
        assert await fetcher.fetch(f"{base}/tenant-b/R-2.pdf", max_bytes=1000) == PDF
    assert cookies == [None, None]


async def test_exactly_the_limit_is_accepted_and_one_byte_more_is_not(fetcher: HttpDocumentFetcher) -> None:
    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=PDF)

    async with serving(pdf) as base:
        assert await fetcher.fetch(f"{base}/a.pdf", max_bytes=len(PDF)) == PDF
        with pytest.raises(DocumentInvalid, match=f"larger than the limit of {len(PDF) - 1} bytes"):
            await fetcher.fetch(f"{base}/a.pdf", max_bytes=len(PDF) - 1)


async def test_an_endless_body_is_abandoned_once_past_the_limit(fetcher: HttpDocumentFetcher) -> None:
    sent: list[int] = [0]
    stopped = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse it by
        await response.prepare(request)
        try:
            while sent[0] < 512 * CHUNK_BYTES:  # a bound, so a broken cap fails instead of hanging
                await response.write(b"%" * CHUNK_BYTES)
                sent[0] += CHUNK_BYTES
        finally:
            stopped.set()
        return response

    async with serving(endless) as base:
        with pytest.raises(DocumentInvalid, match="larger than the limit"):
            await fetcher.fetch(f"{base}/big.pdf", max_bytes=4 * CHUNK_BYTES)
        await asyncio.wait_for(stopped.wait(), 10)
    assert sent[0] < 512 * CHUNK_BYTES


async def test_a_declared_length_above_the_limit_is_refused_unread(fetcher: HttpDocumentFetcher) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"%" * 5000)

    async with serving(big) as base:
        with pytest.raises(DocumentInvalid, match="larger than the limit of 100 bytes"):
            await fetcher.fetch(f"{base}/big.pdf", max_bytes=100)


async def test_no_compression_is_asked_for_and_a_compressed_body_counts_decoded(
    fetcher: HttpDocumentFetcher,
) -> None:
    body = b"%PDF-" + b"0" * 100_000
    packed = gzip.compress(body)
    asked: list[str | None] = []

    async def gzipped(request: web.Request) -> web.Response:
        # Compressed although identity was asked for, as a stored object with its own encoding is.
        asked.append(request.headers.get("Accept-Encoding"))
        return web.Response(body=packed, headers={"Content-Encoding": "gzip"})

    async with serving(gzipped) as base:
        assert len(packed) < 1000
        with pytest.raises(DocumentInvalid, match="larger than the limit of 1000 bytes"):
            await fetcher.fetch(f"{base}/bomb.pdf", max_bytes=1000)
        assert await fetcher.fetch(f"{base}/bomb.pdf", max_bytes=len(body)) == body
    assert asked == ["identity", "identity"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_refused_and_not_followed(fetcher: HttpDocumentFetcher, status: int) -> None:
    followed: list[str] = []

    async def route(request: web.Request) -> web.Response:
        if request.path == "/target.pdf":
            followed.append(request.path)
            return web.Response(body=PDF)
        return web.Response(status=status, headers={"Location": "/target.pdf"})

    async with serving(route) as base:
        with pytest.raises(DocumentInvalid) as info:
            await fetcher.fetch(f"{base}/a.pdf?{SECRET}", max_bytes=1000)
    assert str(info.value) == f"the document url answered a redirect (HTTP {status}), which is not followed"
    assert followed == []


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        *((status, True) for status in (400, 403, 404, 410)),
        *((status, False) for status in (408, 429, 500, 503)),
    ],
)
async def test_answers_that_refuse_and_answers_that_wait(
    fetcher: HttpDocumentFetcher, status: int, refused: bool
) -> None:
    async def route(request: web.Request) -> web.Response:
        return web.Response(status=status, text=f"no: {request.path_qs}")

    async with serving(route) as base:
        with pytest.raises(DocumentInvalid if refused else DocumentUnavailable) as info:
            await fetcher.fetch(f"{base}/a.pdf?{SECRET}", max_bytes=1000)
    assert str(info.value) == f"the document url answered HTTP {status}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_refused_connection_waits_and_names_no_url(fetcher: HttpDocumentFetcher) -> None:
    with pytest.raises(DocumentUnavailable) as info:
        await fetcher.fetch(f"http://127.0.0.1:{_closed_port()}/a.pdf?{SECRET}", max_bytes=1000)
    assert str(info.value) == "the document could not be fetched (ClientConnectorError)"
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


async def test_a_server_that_does_not_answer_in_time_waits() -> None:
    release = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=PDF)

    fetcher = HttpDocumentFetcher(timeout=0.2)
    try:
        async with serving(silent) as base:
            with pytest.raises(DocumentUnavailable, match=r"could not be fetched \(.*Timeout.*\)"):
                await fetcher.fetch(f"{base}/a.pdf?{SECRET}", max_bytes=1000)
            release.set()
    finally:
        await fetcher.close()
