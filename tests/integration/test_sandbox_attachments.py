"""The sandbox's uploadTempFile and saveVoucher's ``filename`` over real HTTP: the recorded answer
shapes, the judged file types, attaching once, and what lost answers and held requests leave behind."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer
from sevsync.sandbox.attachments import MAX_REQUEST_BYTES, MAX_UPLOAD_BYTES

from .sandbox_account import TOKEN
from .test_sandbox_vouchers import Api, Reply, assert_error, save_voucher, voucher_body

UPLOAD = "/Voucher/Factory/uploadTempFile"
SAVE = "/Voucher/Factory/saveVoucher"

PDF = b"%PDF-1.7\n1 0 obj << /Type /Pages /Count 2 >> endobj\n2 0 obj << /Type /Page >> endobj\n" + (
    b"3 0 obj << /Type /Page >> endobj\n%%EOF\n"
)
ZUGFERD_PDF = PDF.replace(
    b"%%EOF", b"4 0 obj << /Type /Filespec /F (factur-x.xml) /AFRelationship /Data >>\n%%EOF"
)
CII_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">'
    b"<rsm:ExchangedDocument/></rsm:CrossIndustryInvoice>"
)
UBL_XML = (
    b'\xef\xbb\xbf<?xml version="1.0"?>\n'
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>RE-1</ID></Invoice>'
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
RECORDED_KEYS = {"pages", "mimeType", "originMimeType", "filename", "contentHash", "content", "isEInvoice"}


@pytest.fixture
async def api(sevdesk: Sandbox) -> AsyncIterator[Api]:
    async with SandboxServer(sevdesk) as server, aiohttp.ClientSession() as session:
        yield Api(session, server)


async def upload(api: Api, data: bytes, *, part: str = "file") -> Reply:
    form = aiohttp.FormData()
    form.add_field(part, data, filename="original", content_type="application/octet-stream")
    async with api.session.post(
        api.base_url + UPLOAD, data=form, headers={"Authorization": TOKEN}
    ) as response:
        return Reply(response.status, await response.json(content_type=None))


async def uploaded(api: Api, data: bytes) -> dict[str, Any]:
    reply = await upload(api, data)
    assert reply.status == 201, reply.body
    objects: dict[str, Any] = reply.body["objects"]
    return objects


async def control_read(api: Api) -> dict[str, Any]:
    async with api.session.get(
        api.control_url + "/attachments", headers={"Authorization": TOKEN}
    ) as response:
        assert response.status == 200
        summary: dict[str, Any] = await response.json()
        return summary


async def counts(api: Api) -> dict[str, int]:
    result: dict[str, int] = (await control_read(api))["counts"]
    return result


async def test_a_pdf_upload_answers_the_recorded_shape(api: Api) -> None:
    objects = await uploaded(api, PDF)
    assert set(objects) == RECORDED_KEYS
    assert objects == {
        "pages": 2,
        "mimeType": "image/jpg",
        "originMimeType": "application/pdf",
        "filename": hashlib.md5(PDF, usedforsecurity=False).hexdigest() + ".pdf",
        "contentHash": hashlib.sha256(PDF).hexdigest(),
        "content": [],
        "isEInvoice": False,
    }


@pytest.mark.parametrize(
    ("data", "extension", "origin"),
    [
        (CII_XML, "xml", "application/xml"),
        (UBL_XML, "xml", "application/xml"),
        (ZUGFERD_PDF, "pdf", "application/pdf"),
    ],
    ids=["cii-xml", "ubl-xml", "zugferd-pdf"],
)
async def test_e_invoices_are_recognised(api: Api, data: bytes, extension: str, origin: str) -> None:
    objects = await uploaded(api, data)
    assert objects["isEInvoice"] is True
    assert objects["filename"].endswith("." + extension)
    assert objects["originMimeType"] == origin


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (PNG, "only PDF"),
        (b"Rechnung RE-1 ueber 119 EUR\n", "only PDF"),
        (b"", "empty"),
        (b"<Order xmlns='urn:example'/>", "neither"),
        (b"<rsm:CrossIndustryInvoice", "well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DOCTYPE"),
        (b"%PDF-" + b"0" * (MAX_UPLOAD_BYTES - 4), "larger"),
        (b"%PDF-" + b"0" * MAX_REQUEST_BYTES, "larger"),
    ],
    ids=[
        "png",
        "plain-text",
        "empty",
        "other-xml",
        "broken-xml",
        "doctype",
        "oversized",
        "beyond-the-body-limit",
    ],
)
async def test_other_files_are_refused_and_nothing_is_kept(api: Api, data: bytes, reason: str) -> None:
    message = assert_error(await upload(api, data), 400)
    assert reason in message
    assert await counts(api) == {"uploads": 0, "temp_files": 0, "attachments": 0}


async def test_an_upload_needs_a_file_part_in_a_form(api: Api) -> None:
    assert "'file'" in assert_error(await upload(api, PDF, part="document"), 400)
    assert "multipart" in assert_error(await api.post(UPLOAD, {"file": "JVBERi0="}), 400)


async def test_the_same_bytes_get_the_same_filename(api: Api) -> None:
    first = await uploaded(api, PDF)
    again = await uploaded(api, PDF)
    other = await uploaded(api, CII_XML)
    assert again == first
    assert other["filename"] != first["filename"]
    summary = await control_read(api)
    assert summary["counts"] == {"uploads": 3, "temp_files": 2, "attachments": 0}
    assert {t["filename"]: t["uploads"] for t in summary["temp_files"]} == {
        first["filename"]: 2,
        other["filename"]: 1,
    }


async def test_save_voucher_with_a_filename_attaches_the_file(api: Api, account: Account) -> None:
    temp = await uploaded(api, ZUGFERD_PDF)
    saved = await save_voucher(api, {**voucher_body(), "filename": temp["filename"]})
    document = saved["document"]
    assert document["objectName"] == "Document"
    assert document["filename"] + ".pdf" == temp["filename"]
    assert document["extension"] == "pdf"
    assert document["filesize"] == str(len(ZUGFERD_PDF))
    assert document["contentHash"] == temp["contentHash"]
    assert document["status"] == "50"
    reference = {"id": document["id"], "objectName": "Document"}
    assert saved["voucher"]["document"] == reference
    [shown] = (await api.get(f"/Voucher/{saved['voucher']['id']}")).body["objects"]
    assert shown["document"] == reference
    assert account.objects("Document") == [document]
    summary = await control_read(api)
    assert summary["counts"] == {"uploads": 1, "temp_files": 0, "attachments": 1}
    [attachment] = summary["attachments"]
    assert attachment["voucher"] == int(saved["voucher"]["id"])
    assert attachment["filename"] == temp["filename"]
    assert attachment["isEInvoice"] is True


async def test_a_temp_file_is_attached_once(api: Api, account: Account) -> None:
    temp = await uploaded(api, PDF)
    await save_voucher(api, {**voucher_body(), "filename": temp["filename"]})
    message = assert_error(await api.post(SAVE, {**voucher_body(), "filename": temp["filename"]}), 422)
    assert temp["filename"] in message
    assert len(account.objects("Voucher")) == 1
    assert await counts(api) == {"uploads": 1, "temp_files": 0, "attachments": 1}


async def test_an_unknown_filename_is_refused_and_nothing_saved(api: Api, account: Account) -> None:
    message = assert_error(await api.post(SAVE, {**voucher_body(), "filename": "0" * 32 + ".pdf"}), 422)
    assert "upload it first" in message
    assert account.objects("Voucher") == []
    assert account.objects("VoucherPos") == []
    assert account.objects("Document") == []


async def test_a_voucher_with_a_document_refuses_another(api: Api, account: Account) -> None:
    first, second = await uploaded(api, PDF), await uploaded(api, CII_XML)
    saved = await save_voucher(api, {**voucher_body(status=50), "filename": first["filename"]})
    update = voucher_body(status=50, id=int(saved["voucher"]["id"]), description="changed")
    message = assert_error(await api.post(SAVE, {**update, "filename": second["filename"]}), 422)
    assert "has a document already" in message
    [voucher] = account.objects("Voucher")
    assert voucher["description"] == saved["voucher"]["description"]
    assert await counts(api) == {"uploads": 2, "temp_files": 1, "attachments": 1}


async def test_a_voucher_saved_without_filename_answers_as_before(api: Api, account: Account) -> None:
    saved = await save_voucher(api, voucher_body())
    assert set(saved) == {"voucher", "voucherPos"}
    assert saved["voucher"]["document"] is None
    assert account.objects("Document") == []


async def test_an_upload_whose_answer_is_lost_leaves_one_temp_file(api: Api, sevdesk: Sandbox) -> None:
    sevdesk.faults.add(kind="lost_answer", method="POST", path=UPLOAD)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await upload(api, PDF)
    assert await counts(api) == {"uploads": 1, "temp_files": 1, "attachments": 0}
    # The retry of the same bytes finds the same file rather than a second one.
    retried = await uploaded(api, PDF)
    summary = await control_read(api)
    assert summary["counts"] == {"uploads": 2, "temp_files": 1, "attachments": 0}
    assert [t["filename"] for t in summary["temp_files"]] == [retried["filename"]]


async def test_an_attach_applied_then_failed_is_not_repeated(
    api: Api, sevdesk: Sandbox, account: Account
) -> None:
    temp = await uploaded(api, PDF)
    sevdesk.faults.add(kind="applied_then_error", method="POST", path=SAVE, status=500)
    body = {**voucher_body(), "filename": temp["filename"]}
    assert_error(await api.post(SAVE, body), 500)
    assert_error(await api.post(SAVE, body), 422)
    [voucher] = account.objects("Voucher")
    [document] = account.objects("Document")
    assert voucher["document"] == {"id": document["id"], "objectName": "Document"}
    assert await counts(api) == {"uploads": 1, "temp_files": 0, "attachments": 1}


async def test_a_held_upload_is_read_ahead_and_still_lands(api: Api, sevdesk: Sandbox) -> None:
    sevdesk.faults.add(kind="hold", method="POST", path=UPLOAD)
    pending = asyncio.ensure_future(upload(api, UBL_XML))
    for _ in range(1000):
        if sevdesk.faults.held:
            break
        await asyncio.sleep(0.01)
    assert sevdesk.faults.held == 1
    assert await counts(api) == {"uploads": 0, "temp_files": 0, "attachments": 0}
    sevdesk.faults.release()
    reply = await pending
    assert reply.status == 201, reply.body
    assert reply.body["objects"]["isEInvoice"] is True
    assert await counts(api) == {"uploads": 1, "temp_files": 1, "attachments": 0}
