"""Original documents of vouchers: ``POST /Voucher/Factory/uploadTempFile`` and saveVoucher's ``filename``.

Upload: a ``multipart/form-data`` request with the file in the part named ``file`` (spec op
voucherUploadFile). The answer is HTTP 201 with the recorded shape (RS ``write_upload_temp_file``):
``{"objects": {"pages", "mimeType", "originMimeType", "filename", "contentHash", "content": [],
"isEInvoice"}}``. The file's type is judged by its bytes (:mod:`sevsync.sandbox.file_types`).

Choices where no source settles the behaviour:

- ``filename`` is the MD5 of the bytes plus the extension and ``contentHash`` their SHA-256 (the
  recorded name has an MD5's 32 hex digits, the hash a SHA-256's 64; the spec calls the name "a hash
  generated from your uploaded file"). Whether sevDesk gives the same bytes the same name is not
  recorded; here it does: uploading bytes that are already waiting answers the same temp file again
  and only counts the upload, so a retried upload never leaves two files to choose from.
- The real API also takes images (api-notes 8); the sandbox takes only what sevsync may send and
  refuses the rest, an empty file, or more than :data:`MAX_UPLOAD_BYTES` with HTTP 400 (the only
  refusal the spec documents for this operation). sevDesk documents no size limit.
- A temp file is attached once: saveVoucher consumes it, and the same ``filename`` is then refused
  like an unknown one (422, nothing saved). A voucher holds one ``document``; a voucher that has one
  refuses another (422).

Attaching answers ``document`` next to ``voucher`` and ``voucherPos``, shaped as recorded (RS
``write_voucher_save_update_release_attach``): ``filename`` without extension, ``extension``,
``filesize`` as a string, ``contentHash``, ``status`` "50". The voucher then refers to it as
``{"id", "objectName": "Document"}``, which is how ``GET /Voucher/{id}`` shows it.
"""

from __future__ import annotations

import email.message
import email.parser
import hashlib
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request, invalid
from .file_types import Refused, judge
from .store import Account, Record, TempFile, ref
from .wire import API_PREFIX, account_of, ok

routes = web.RouteTableDef()

OBJECT_NAME = "Document"
FILE_PART = "file"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # as sevsync's own default limit (CONTRACT section 9)
# The largest request body the application reads: the file plus room for the form's framing.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
DRAFT_DOCUMENT = "50"


def _too_large() -> ApiError:
    return bad_request(f"the file is larger than {MAX_UPLOAD_BYTES} bytes")


def _boundary(content_type: str) -> str | None:
    header = email.message.Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    return boundary if isinstance(boundary, str) and boundary else None


def _form_part(body: bytes, boundary: str, name: str) -> bytes | None:
    """The content of the form part called ``name`` (RFC 7578), or None when there is none."""
    for chunk in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = email.parser.BytesHeaderParser().parsebytes(head.lstrip(b"\r\n"))
        if headers.get_param("name", header="content-disposition") == name:
            return content.removesuffix(b"\r\n")
    return None


async def _uploaded_bytes(request: web.Request) -> bytes:
    boundary = _boundary(request.headers.get("Content-Type", ""))
    if request.content_type != "multipart/form-data" or boundary is None:
        raise bad_request("send the file as multipart/form-data in a part named 'file'")
    try:
        # read(), not multipart(): a held request (see faults) was read ahead already.
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    data = _form_part(body, boundary, FILE_PART)
    if data is None:
        raise bad_request("the form has no part named 'file'")
    if len(data) > MAX_UPLOAD_BYTES:
        raise _too_large()
    return data


def _new_temp_file(data: bytes) -> TempFile:
    try:
        kind = judge(data)
    except Refused as exc:
        raise bad_request(f"file not accepted: {exc}") from None
    filename = f"{hashlib.md5(data, usedforsecurity=False).hexdigest()}.{kind.extension}"
    content_hash = hashlib.sha256(data).hexdigest()
    answer = {
        "pages": kind.pages,
        "mimeType": kind.mime_type,
        "originMimeType": kind.origin_mime_type,
        "filename": filename,
        "contentHash": content_hash,
        "content": [],
        "isEInvoice": kind.e_invoice,
    }
    return TempFile(filename=filename, content_hash=content_hash, size=len(data), answer=answer)


@routes.post(f"{API_PREFIX}/Voucher/Factory/uploadTempFile")
async def upload_temp_file(request: web.Request) -> web.Response:
    account = account_of(request)
    temp_file = _new_temp_file(await _uploaded_bytes(request))
    temp_file = account.temp_files.setdefault(temp_file.filename, temp_file)
    temp_file.uploads += 1
    account.upload_count += 1
    return ok(dict(temp_file.answer), status=201)


def attachable(account: Account, voucher: Record | None, filename: Any) -> TempFile | None:
    """The temp file saveVoucher's ``filename`` names (None: no ``filename``); refused with 422
    when no such file waits or the voucher has a document already. Writes nothing."""
    if filename is None or filename == "":
        return None
    if not isinstance(filename, str):
        raise invalid("filename must be the name uploadTempFile answered")
    temp_file = account.temp_files.get(filename)
    if temp_file is None:
        raise invalid(f"filename: no uploaded file {filename!r} waits to be attached (upload it first)")
    if voucher is not None and voucher.fields.get("document") is not None:
        raise invalid(f"Voucher {voucher.id} has a document already")
    return temp_file


def attach(account: Account, voucher: Record, temp_file: TempFile) -> Record:
    """Make ``temp_file`` the voucher's document; the temp file is used up."""
    stem, _, extension = temp_file.filename.rpartition(".")
    users = list(account.table("SevUser"))
    user = ref("SevUser", users[0]) if users else None
    document = account.insert(
        OBJECT_NAME,
        {
            "documentNumber": None,
            "createUser": user,
            "updateUser": user,
            "mimeType": None,
            "description": None,
            "filename": stem,
            "status": DRAFT_DOCUMENT,
            "extension": extension,
            "filesize": str(temp_file.size),
            "contentHash": temp_file.content_hash,
        },
        {"voucher": voucher.id, "upload": temp_file.filename, "e_invoice": temp_file.answer["isEInvoice"]},
    )
    account.update(voucher, {"document": ref(OBJECT_NAME, document.id)})
    del account.temp_files[temp_file.filename]
    return document


def summary(account: Account) -> dict[str, Any]:
    """The account's waiting temp files and attached documents, with counts (control API)."""
    temp_files = [
        {
            "filename": t.filename,
            "contentHash": t.content_hash,
            "size": t.size,
            "isEInvoice": t.answer["isEInvoice"],
            "uploads": t.uploads,
        }
        for t in account.temp_files.values()
    ]
    attachments = [
        {
            "document": d.id,
            "voucher": d.meta["voucher"],
            "filename": d.meta["upload"],
            "contentHash": d.fields["contentHash"],
            "isEInvoice": d.meta["e_invoice"],
        }
        for d in account.table(OBJECT_NAME).values()
    ]
    counts = {"uploads": account.upload_count, "temp_files": len(temp_files), "attachments": len(attachments)}
    return {"counts": counts, "temp_files": temp_files, "attachments": attachments}
