"""An invoice's document on its voucher, end to end: uploaded and attached exactly once (also after a
lost answer and a killed worker), refused before anything is written, waiting while its url does not
answer, and never repeated in a log line, an outcome row, a dead letter's error or a message."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from sevsync.config import Settings
from sevsync.logs import QUIET_LOGGERS, JsonFormatter
from sevsync.sandbox.server import SandboxServer

from ..samples import crm_invoice
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)
from .processes import WorkerProcess
from .test_dead_letters import outcomes_of

# Distinctive, so that any copy of them is found by a plain substring search.
PDF = b"%PDF-1.7\n% sevsync-test-document-9f3c\n1 0 obj << /Type /Pages /Count 1 >> endobj\n%%EOF\n"
PDF_BASE64 = base64.b64encode(PDF).decode()
CII_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
    b"<rsm:ExchangedDocument/></rsm:CrossIndustryInvoice>"
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR sevsync-test-png-77ab"
NOTE_XML = b'<?xml version="1.0" encoding="UTF-8"?><note>sevsync-test-note-41d2</note>'
SECRET_QUERY = "signature=sevsync-test-secret-5e1b"
UPLOAD = "uploadTempFile"
SAVE = "saveVoucher"


def inline(
    data: bytes = PDF, filename: str = "R-1.pdf", content_type: str = "application/pdf"
) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": content_type,
        "content_base64": base64.b64encode(data).decode(),
    }


def linked(url: str, filename: str = "R-1.pdf", content_type: str = "application/pdf") -> dict[str, str]:
    return {"filename": filename, "content_type": content_type, "url": url}


def issued(
    document: dict[str, str], invoice_id: str = "inv-9", number: str = "2531-Ljnk-278"
) -> dict[str, Any]:
    return envelope("invoice.issued", crm_invoice(invoice_id, number=number, document=document))


class Files:
    """A local file server: `answers` maps a path to bytes or an HTTP status; `up` switches it on."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes | int] = {}
        self.up = True
        self.requests: list[str] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        answer = self.answers.get(request.path, 404) if self.up else 503
        if isinstance(answer, bytes):
            return web.Response(body=answer)
        if 300 <= answer < 400:
            return web.Response(status=answer, headers={"Location": "/invoices/R-1.pdf"})
        return web.Response(status=answer)


@asynccontextmanager
async def file_server(port: int = 0) -> AsyncIterator[Files]:
    files = Files()
    app = web.Application()
    app.router.add_get("/{tail:.*}", files.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    files.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield files
    finally:
        await runner.cleanup()


async def attachments(sandbox: SandboxServer, token: str) -> dict[str, Any]:
    """The sandbox's control read of the account's temp files and attached documents."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{sandbox.root_url}/__sandbox__/attachments", headers={"Authorization": token}
        ) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = dict(await response.json())
        return answer


async def assert_attached_once(sandbox: SandboxServer, token: str, *, uploads: int = 1) -> dict[str, Any]:
    """Exactly one voucher, holding exactly one document, and no temp file left over."""
    [voucher] = sandbox.sandbox.account(token).objects("Voucher")
    read = await attachments(sandbox, token)
    assert read["counts"] == {"uploads": uploads, "temp_files": 0, "attachments": 1}
    [attached] = read["attachments"]
    assert isinstance(attached, dict)
    # The control read answers ids as numbers, sevDesk's objects as strings.
    assert str(attached["voucher"]) == voucher["id"]
    assert voucher["document"] == {"id": str(attached["document"]), "objectName": "Document"}
    return attached


async def test_an_inline_pdf_is_attached_to_the_voucher(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    event = issued(inline())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert (outcome["status"], outcome["sevdesk_object"]) == ("succeeded", "Voucher"), outcome["error"]
    attached = await assert_attached_once(sandbox, token)
    assert attached["isEInvoice"] is False
    link = await db.fetchrow("SELECT sevdesk_id FROM sevsync.entity_link")
    assert link is not None
    assert link["sevdesk_id"] == str(attached["voucher"])


async def test_a_url_document_under_an_allowed_prefix_is_fetched_and_attached(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    async with file_server() as files:
        files.answers["/invoices/R-1.xml"] = CII_XML
        settings = settings.model_copy(update={"document_url_prefixes": (f"{files.base}/invoices/",)})
        token = await add_tenant(db, settings, sandbox)
        event = issued(linked(f"{files.base}/invoices/R-1.xml?{SECRET_QUERY}", "R-1.xml", "application/xml"))
        async with running_worker(settings):
            await publish(settings, event)
            [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert files.requests == ["/invoices/R-1.xml"]
    attached = await assert_attached_once(sandbox, token)
    assert attached["isEInvoice"] is True


async def test_an_unchanged_invoice_resent_with_a_freshly_signed_url_is_no_change(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    async with file_server() as files:
        files.answers["/invoices/R-1.pdf"] = PDF
        settings = settings.model_copy(update={"document_url_prefixes": (f"{files.base}/invoices/",)})
        token = await add_tenant(db, settings, sandbox)
        first = issued(linked(f"{files.base}/invoices/R-1.pdf?signature=first"))
        again = {**issued(linked(f"{files.base}/invoices/R-1.pdf?signature=second")), "version": 2}
        async with running_worker(settings):
            await publish(settings, first)
            await wait_for_outcomes(db, first)
            await publish(settings, again)
            [outcome] = await wait_for_outcomes(db, again)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "no_change"), outcome["error"]
    assert files.requests == ["/invoices/R-1.pdf"]  # fetched once, for the create
    await assert_attached_once(sandbox, token)


async def test_the_document_is_attached_once_after_a_lost_save_answer(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path=SAVE)
    [rule] = sandbox.sandbox.faults.rules
    event = issued(inline())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert rule.hits == 1  # the save was sent once: the voucher was found, not saved again
    attached = await assert_attached_once(sandbox, token)
    assert outcome["sevdesk_id"] == str(attached["voucher"])


@pytest.mark.parametrize("gone", [403, 410])
async def test_a_voucher_saved_before_its_url_expired_is_adopted_on_the_retry(
    gone: int, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"retry_delays": (timedelta(seconds=2),) * 5})
    async with file_server() as files:
        files.answers["/invoices/R-1.pdf"] = PDF
        settings = settings.model_copy(update={"document_url_prefixes": (f"{files.base}/invoices/",)})
        token = await add_tenant(db, settings, sandbox)
        # The save lands but its answer is lost; the voucher's read after the recovery fails, so the
        # attempt ends unlinked and the retry has to find the voucher itself.
        sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path=SAVE, times=1)
        sandbox.sandbox.faults.add(
            kind="status", status=503, method="GET", path=r"^/Voucher/\d+$", times=None
        )
        event = issued(linked(f"{files.base}/invoices/R-1.pdf?{SECRET_QUERY}"))
        async with running_worker(settings):
            await publish(settings, event)
            waiting = await wait_for_first_outcome(db, event, "retrying")
            files.answers["/invoices/R-1.pdf"] = gone  # the signed url has expired meanwhile
            sandbox.sandbox.faults.clear()
            [outcome] = await wait_for_outcomes(db, event, timeout=30)

    assert waiting["reason"] == "sevdesk_unavailable", waiting["error"]
    assert outcome["status"] == "succeeded", outcome["error"]
    attached = await assert_attached_once(sandbox, token)
    assert outcome["sevdesk_id"] == str(attached["voucher"])


async def test_a_refused_document_waits_while_an_earlier_save_may_still_land(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(
        update={"write_settle_seconds": 600.0, "retry_delays": (timedelta(seconds=1),) * 5}
    )
    async with file_server() as files:
        files.answers["/invoices/R-1.pdf"] = PDF
        settings = settings.model_copy(update={"document_url_prefixes": (f"{files.base}/invoices/",)})
        await add_tenant(db, settings, sandbox)
        # The save gets no answer in time (nor lands here): it may still land as far as sevsync knows.
        seconds = settings.sevdesk_timeout + 5
        sandbox.sandbox.faults.add(kind="timeout", seconds=seconds, method="POST", path=SAVE, times=1)
        event = issued(linked(f"{files.base}/invoices/R-1.pdf"))
        async with running_worker(settings):
            await publish(settings, event)
            await wait_for_first_outcome(db, event, "retrying", timeout=seconds + 10)
            files.answers["/invoices/R-1.pdf"] = 410  # the url expires meanwhile
            first, second = await outcomes_of(db, event, 2, timeout=30)

    assert (first["status"], first["reason"]) == ("retrying", "write_unconfirmed"), first["error"]
    # Not document_invalid: a voucher the earlier save made would hold the document already.
    assert (second["status"], second["reason"]) == ("retrying", "write_unconfirmed"), second["error"]
    assert files.requests == ["/invoices/R-1.pdf"] * 2


@pytest.mark.parametrize("kind", ["lost_answer", "timeout"])
async def test_an_upload_without_an_answer_is_retried_at_once_and_saved_once(
    kind: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A settle window the test would notice: a retry that waited it out would time out below.
    settings = settings.model_copy(
        update={"write_settle_seconds": 600.0, "retry_delays": (timedelta(seconds=1),) * 3}
    )
    token = await add_tenant(db, settings, sandbox)
    # The timeout outlasts the client's: the upload's answer never comes in time.
    seconds = settings.sevdesk_timeout + 5
    sandbox.sandbox.faults.add(kind=kind, seconds=seconds, method="POST", path=UPLOAD, times=1)
    event = issued(inline())
    async with running_worker(settings):
        await publish(settings, event)
        rows = await outcomes_of(db, event, 2, timeout=seconds + 30)

    assert [(row["status"], row["reason"]) for row in rows] == [
        ("retrying", "sevdesk_unavailable"),
        ("succeeded", None),
    ], [row["error"] for row in rows]
    assert len(sandbox.sandbox.account(token).objects("Voucher")) == 1
    assert (await attachments(sandbox, token))["counts"]["attachments"] == 1


@pytest.mark.parametrize(
    ("kind", "path"),
    [("slow_answer", UPLOAD), ("timeout", SAVE)],
    ids=["killed-after-the-upload", "killed-while-the-save-never-arrives"],
)
async def test_a_worker_killed_between_upload_and_save_leaves_one_voucher_with_its_document(
    kind: str, path: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    # The upload lands but its answer never comes; or the save is sent but never applied.
    sandbox.sandbox.faults.add(kind=kind, seconds=30, method="POST", path=path, times=1)
    [rule] = sandbox.sandbox.faults.rules
    event = issued(inline())
    worker = WorkerProcess(settings)
    try:
        await worker.start()
        await publish(settings, event)
        await wait_until(lambda: rule.hits == 1, 15, f"the {path} request")
        worker.kill()
        await asyncio.wait_for(worker.process.wait(), 10)  # type: ignore[union-attr]
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome") == 0
    assert sandbox.sandbox.account(token).objects("Voucher") == []
    assert (await attachments(sandbox, token))["counts"] == {"uploads": 1, "temp_files": 1, "attachments": 0}

    # The unacked delivery comes back: the same bytes are uploaded again (the same temp file), saved once.
    async with running_worker(settings):
        [outcome] = await wait_for_outcomes(db, event, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    await assert_attached_once(sandbox, token, uploads=2)


Refusal = Callable[[Files], Awaitable[dict[str, str]]]


async def test_documents_that_are_not_acceptable_fail_before_anything_is_written(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    capture_as_the_worker_logs(caplog)
    async with file_server() as files:
        files.answers["/invoices/moved.pdf"] = 302
        files.answers["/invoices/gone.pdf"] = 410
        allowed = f"{files.base}/invoices/"
        settings = settings.model_copy(
            update={"document_url_prefixes": (allowed,), "max_document_bytes": len(PDF) - 1}
        )
        token = await add_tenant(db, settings, sandbox)
        documents = {
            "oversized": (inline(), "more than the limit"),
            "png-as-pdf": (inline(PNG), "neither a PDF nor XML"),
            "xml-not-an-invoice": (inline(NOTE_XML, "R-1.xml", "application/xml"), "XML root is neither"),
            "bad-base64": ({**inline(), "content_base64": PDF_BASE64[:-2] + "!="}, "not valid base64"),
            "forbidden-url": (
                linked(f"{files.base}/elsewhere/R-1.pdf?{SECRET_QUERY}"),
                "under no allowed prefix",
            ),
            "redirect": (linked(f"{allowed}moved.pdf?{SECRET_QUERY}"), "redirect (HTTP 302)"),
            "gone": (linked(f"{allowed}gone.pdf?{SECRET_QUERY}"), "HTTP 410"),
        }
        events = [issued(doc, f"inv-{i}", f"R-{i}") for i, (doc, _) in enumerate(documents.values())]
        async with running_worker(settings):
            await publish(settings, *events)
            outcomes = await wait_for_outcomes(db, *events)

    for name, (outcome, (_, message)) in zip(
        documents, zip(outcomes, documents.values(), strict=True), strict=True
    ):
        # One read only: the search for a voucher an earlier attempt saved, made before the document.
        assert (outcome["status"], outcome["reason"], outcome["api_calls"]) == (
            "failed",
            "document_invalid",
            1,
        ), (
            name,
            outcome["error"],
        )
        assert message in outcome["error"], name
    assert files.requests.count("/invoices/moved.pdf") == 1  # refused, not followed to R-1.pdf
    assert "/elsewhere/R-1.pdf" not in files.requests  # refused before any request
    assert sandbox.sandbox.account(token).objects("Voucher") == []
    assert (await attachments(sandbox, token))["counts"] == {"uploads": 0, "temp_files": 0, "attachments": 0}
    dead = await db.fetch("SELECT reason, body FROM sevsync.dead_letter")
    assert [row["reason"] for row in dead] == ["document_invalid"] * len(events)
    assert all(SECRET_QUERY.encode() in row["body"] or b"content_base64" in row["body"] for row in dead)
    await assert_nothing_repeats_the_documents(db, caplog, [SECRET_QUERY, files.base, PDF_BASE64[:40]])


def capture_as_the_worker_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every record at DEBUG, the libraries held at WARNING as `configure_logging` holds them."""
    for name in QUIET_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    # Last: set_level also sets the capturing handler's level, which must be DEBUG.
    caplog.set_level(logging.DEBUG)


async def assert_nothing_repeats_the_documents(
    db: asyncpg.Pool, caplog: pytest.LogCaptureFixture, secrets: list[str]
) -> None:
    """No log line, outcome row, dead letter's error or outgoing message holds any of `secrets`
    (a dead letter's body is kept as received, as for every dead letter)."""
    # As the worker writes them: the JSON line, with any traceback.
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    outcomes = await db.fetch("SELECT * FROM sevsync.sync_outcome")
    dead = await db.fetch("SELECT error FROM sevsync.dead_letter")
    sent = await db.fetch("SELECT body FROM sevsync.outbox")
    recorded = "\n".join(
        [str(dict(row)) for row in [*outcomes, *dead]] + [row["body"].decode() for row in sent]
    )
    assert caplog.records
    for secret in secrets:
        assert secret not in logged
        assert secret not in recorded


async def test_an_inline_document_never_reaches_the_logs_or_the_records(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    capture_as_the_worker_logs(caplog)
    await add_tenant(db, settings, sandbox)
    good = issued(inline())
    refused = issued(inline(PDF, "R-2.xml"), "inv-2", "R-2")
    async with running_worker(settings):
        await publish(settings, good, refused)
        first, second = await wait_for_outcomes(db, good, refused)

    assert first["status"] == "succeeded", first["error"]
    assert (second["status"], second["reason"]) == ("failed", "document_invalid")
    await assert_nothing_repeats_the_documents(db, caplog, [PDF_BASE64[:40], "sevsync-test-document-9f3c"])


@pytest.mark.parametrize("outage", ["connection-refused", "503"])
async def test_a_url_that_does_not_answer_waits_then_succeeds(
    outage: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # Steps long enough that the server is back before the second attempt, whatever the machine.
    settings = settings.model_copy(update={"retry_delays": (timedelta(seconds=2),) * 3})
    async with file_server() as reserved:
        base = reserved.base
    port = int(base.rsplit(":", 1)[1])
    settings = settings.model_copy(update={"document_url_prefixes": (f"{base}/invoices/",)})
    token = await add_tenant(db, settings, sandbox)
    event = issued(linked(f"{base}/invoices/R-1.pdf"))
    async with running_worker(settings):
        if outage == "503":
            async with file_server(port) as files:
                files.answers["/invoices/R-1.pdf"] = PDF
                files.up = False
                await publish(settings, event)
                waiting = await wait_for_first_outcome(db, event, "retrying")
                files.up = True
                [outcome] = await wait_for_outcomes(db, event, timeout=30)
        else:
            await publish(settings, event)
            waiting = await wait_for_first_outcome(db, event, "retrying")
            async with file_server(port) as files:
                files.answers["/invoices/R-1.pdf"] = PDF
                [outcome] = await wait_for_outcomes(db, event, timeout=30)

    assert waiting["reason"] == "document_unavailable"
    expected = "HTTP 503" if outage == "503" else "could not be fetched (ClientConnectorError)"
    assert expected in waiting["error"]
    assert outcome["status"] == "succeeded", outcome["error"]
    await assert_attached_once(sandbox, token)
