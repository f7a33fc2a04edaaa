"""The sevDesk operations sevsync uses, bound to one tenant's token.

Each method is one documented endpoint; it returns sevDesk's JSON objects as dicts and leaves
mapping to the sync handlers. Quirks of the real API are absorbed here (a single GET returning a
one-element list, persons hidden from a contact search without `depth=1`, filters that are ignored
when misspelled and so are re-checked on the result, pages cut shorter than asked, so every lookup
that can outgrow a page reads all of them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiolimiter import AsyncLimiter

from .client import FormFile, RetryPolicy, SevdeskClient
from .errors import AnsweredWriteError, PermanentError, TransientError, UncertainWriteError
from .objects import JsonObject, ref
from .paging import Page, every_object, page_of
from .token import ApiToken

# The most a page may hold (the spec's maximum): the fewest calls where an account answers that many.
LOOKUP_PAGE_SIZE = 1000


class SevdeskApi:
    def __init__(self, client: SevdeskClient, token: ApiToken, pace: AsyncLimiter | None = None) -> None:
        self._client = client
        self._token = token
        self._pace = pace

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._client.retry_policy

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._client.request(self._token, method, path, pace=self._pace, **kwargs)

    async def _get(self, path: str, **params: str | int) -> Any:
        return await self._request("GET", path, params=params or None)

    async def _get_one(self, path: str) -> JsonObject:
        objects = await self._get(path)
        if isinstance(objects, list):
            if len(objects) != 1 or not isinstance(objects[0], dict):
                raise PermanentError(f"expected one object, got {len(objects)}", method="GET", path=path)
            return objects[0]
        if isinstance(objects, dict):
            return objects
        raise PermanentError("expected an object", method="GET", path=path)

    async def _list(self, path: str, **params: str | int) -> list[JsonObject]:
        objects = await self._get(path, **params)
        if not isinstance(objects, list):
            raise PermanentError("expected a list", method="GET", path=path)
        return [o for o in objects if isinstance(o, dict)]

    async def _each(self, path: str, **params: str | int) -> AsyncIterator[JsonObject]:
        """Every object a list request matches, page by page (see `paging`)."""

        async def read_page(offset: int) -> Page:
            paged = {**params, "limit": LOOKUP_PAGE_SIZE, "offset": offset, "countAll": "true"}
            page = page_of(await self._request("GET", path, params=paged, envelope=True))
            if page is None:
                raise PermanentError("expected a list", method="GET", path=path)
            return page

        async for item in every_object(read_page):
            yield item

    async def _list_all(self, path: str, **params: str | int) -> list[JsonObject]:
        return [item async for item in self._each(path, **params)]

    async def _write(
        self, method: str, path: str, body: JsonObject, *, idempotent: bool = False
    ) -> JsonObject:
        """One write; `idempotent` for those whose repetition changes nothing more (field updates)."""
        objects = await self._request(method, path, json_body=body, idempotent=idempotent)
        if isinstance(objects, list) and len(objects) == 1 and isinstance(objects[0], dict):
            return objects[0]
        if not isinstance(objects, dict):
            raise PermanentError("the answer holds no object", method=method, path=path)
        return objects

    # --- account ---------------------------------------------------------------------------------

    async def bookkeeping_system_version(self) -> str:
        objects = await self._get("/Tools/bookkeepingSystemVersion")
        if isinstance(objects, dict):
            return str(objects.get("version", ""))
        return str(objects)

    async def sev_users(self) -> list[JsonObject]:
        return await self._list("/SevUser")

    async def static_countries(self) -> list[JsonObject]:
        return await self._list_all("/StaticCountry")

    # Lists the account check (`tenant doctor`) reads, each read whole.

    async def list_unities(self) -> list[JsonObject]:
        return await self._list_all("/Unity")

    async def list_check_accounts(self) -> list[JsonObject]:
        return await self._list_all("/CheckAccount")

    async def list_cost_centres(self) -> list[JsonObject]:
        return await self._list_all("/CostCentre")

    async def list_payment_methods(self) -> list[JsonObject]:
        return await self._list_all("/PaymentMethod")

    # --- contacts --------------------------------------------------------------------------------

    async def next_customer_number(self) -> str:
        objects = await self._get("/Contact/Factory/getNextCustomerNumber")
        if isinstance(objects, list):
            objects = objects[0] if objects else ""
        number = str(objects).strip()
        if not number:
            raise PermanentError(
                "sevDesk returned no customer number",
                method="GET",
                path="/Contact/Factory/getNextCustomerNumber",
            )
        return number

    async def customer_number_available(self, number: str) -> bool:
        objects = await self._get("/Contact/Mapper/checkCustomerNumberAvailability", customerNumber=number)
        return objects is True or objects == "true" or objects == 1

    async def find_contacts_by_number(self, customer_number: str) -> list[JsonObject]:
        """The customer contacts (organisation or person) that carry this number.

        depth=1 includes persons; the filter is re-checked because sevDesk ignores bad filters; and
        contact persons (contacts with a parent) are left out, since sevDesk gives them their
        organisation's number.
        """
        found = await self._list("/Contact", customerNumber=customer_number, depth=1, limit=100)
        return [
            c
            for c in found
            if str(c.get("customerNumber") or "") == customer_number and _ref_id(c.get("parent")) is None
        ]

    async def find_contact_persons(self, organisation_id: str) -> list[JsonObject]:
        found = await self._list(
            "/Contact", **{"parent[id]": organisation_id, "parent[objectName]": "Contact"}, depth=1, limit=100
        )
        return [c for c in found if _ref_id(c.get("parent")) == organisation_id]

    async def get_contact(self, contact_id: str) -> JsonObject:
        return await self._get_one(f"/Contact/{int(contact_id)}")

    async def create_contact(self, body: JsonObject) -> JsonObject:
        return await self._write("POST", "/Contact", body)

    async def update_contact(self, contact_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/Contact/{int(contact_id)}", body, idempotent=True)

    async def list_addresses(self, contact_id: str) -> list[JsonObject]:
        found = await self._list(
            "/ContactAddress", **{"contact[id]": contact_id, "contact[objectName]": "Contact"}, limit=100
        )
        return [a for a in found if _ref_id(a.get("contact")) == contact_id]

    async def create_address(self, body: JsonObject) -> JsonObject:
        return await self._write("POST", "/ContactAddress", body)

    async def update_address(self, address_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/ContactAddress/{int(address_id)}", body, idempotent=True)

    async def list_communication_ways(self, contact_id: str) -> list[JsonObject]:
        # Filter by contact only: combined type/main filters were seen to hide existing entries.
        found = await self._list(
            "/CommunicationWay", **{"contact[id]": contact_id, "contact[objectName]": "Contact"}, limit=100
        )
        return [w for w in found if _ref_id(w.get("contact")) == contact_id]

    async def create_communication_way(self, body: JsonObject) -> JsonObject:
        return await self._write("POST", "/CommunicationWay", body)

    async def update_communication_way(self, way_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/CommunicationWay/{int(way_id)}", body, idempotent=True)

    async def delete_communication_way(self, way_id: str) -> None:
        await self._request("DELETE", f"/CommunicationWay/{int(way_id)}", idempotent=True)

    # Paged reads of whole lists (imports). sevDesk lists in its own order (by id in every answer
    # seen so far); an import pages with `offset` until an empty page, since a page shorter than
    # `limit` does not prove the end where the server caps `limit` below what was asked.

    async def list_contacts(self, *, offset: int, limit: int) -> list[JsonObject]:
        """One page of all contacts; depth=1 includes persons (and contact persons, with a `parent`)."""
        return await self._list("/Contact", depth=1, offset=offset, limit=limit)

    def contacts_changed_after(self, after: int) -> AsyncIterator[JsonObject]:
        """Every contact (persons included) whose `update` is after `after` (Unix seconds, strict)."""
        return self._each("/Contact", depth=1, updateAfter=after)

    def every_contact(self) -> AsyncIterator[JsonObject]:
        """Every contact of the account, contact persons included (reconciliation's deletion sweep)."""
        return self._each("/Contact", depth=1)

    def changed_after(self, object_name: str, after: int) -> AsyncIterator[JsonObject]:
        """Every Order, Invoice or Voucher whose `update` is after `after` (Unix seconds, strict)."""
        return self._each(f"/{object_name}", updateAfter=after)

    def every_of(self, object_name: str) -> AsyncIterator[JsonObject]:
        """Every Order, Invoice or Voucher of the account (reconciliation's deletion sweep)."""
        return self._each(f"/{object_name}")

    def every_address(self) -> AsyncIterator[JsonObject]:
        """Every ContactAddress of the account, whichever contact it belongs to."""
        return self._each("/ContactAddress")

    def every_communication_way(self) -> AsyncIterator[JsonObject]:
        """Every CommunicationWay of the account, whichever contact it belongs to."""
        return self._each("/CommunicationWay")

    # --- parts -----------------------------------------------------------------------------------

    async def find_parts_by_number(self, part_number: str) -> list[JsonObject]:
        found = await self._list("/Part", partNumber=part_number, limit=100)
        return [p for p in found if str(p.get("partNumber") or "") == part_number]

    async def get_part(self, part_id: str) -> JsonObject:
        return await self._get_one(f"/Part/{int(part_id)}")

    async def list_parts(self, *, offset: int, limit: int) -> list[JsonObject]:
        """One page of all parts (for imports; see the paged reads of contacts)."""
        return await self._list("/Part", offset=offset, limit=limit)

    def every_part(self) -> AsyncIterator[JsonObject]:
        """Every part of the account; Part has no updateAfter, so reconciliation reads them all."""
        return self._each("/Part")

    async def create_part(self, body: JsonObject) -> JsonObject:
        return await self._write("POST", "/Part", body)

    async def update_part(self, part_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/Part/{int(part_id)}", body, idempotent=True)

    # --- orders (offers) -------------------------------------------------------------------------

    async def save_order(self, body: JsonObject) -> JsonObject:
        """Create or (with `order.id`) update an order; answers `{"order": ..., "orderPos": [...]}`."""
        return await self._write("POST", "/Order/Factory/saveOrder", body)

    async def find_orders_by_number(self, order_number: str) -> list[JsonObject]:
        found = await self._list("/Order", orderNumber=order_number, limit=100)
        return [o for o in found if str(o.get("orderNumber") or "") == order_number]

    async def get_order(self, order_id: str) -> JsonObject:
        return await self._get_one(f"/Order/{int(order_id)}")

    async def order_positions(self, order_id: str) -> list[JsonObject]:
        return await self._list_all(f"/Order/{int(order_id)}/getPositions")

    async def update_order(self, order_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/Order/{int(order_id)}", body, idempotent=True)

    # --- invoices --------------------------------------------------------------------------------

    async def save_invoice(self, body: JsonObject) -> JsonObject:
        """Create or (with `invoice.id`) update a draft; answers `{"invoice": ..., "invoicePos": [...]}`."""
        return await self._write("POST", "/Invoice/Factory/saveInvoice", body)

    async def find_invoices_by_note(self, marker: str) -> list[JsonObject]:
        """Invoices whose `customerInternalNote` is exactly `marker` (sevsync's business key)."""
        found = await self._list("/Invoice", customerInternalNote=marker, limit=100)
        return [i for i in found if str(i.get("customerInternalNote") or "") == marker]

    async def find_cancellations_of(self, invoice_id: str) -> list[JsonObject]:
        """Cancellation invoices (type SR) whose origin is this invoice.

        The origin filter may be ignored (then every cancellation of the account comes back), so the
        origin is compared here, over every page.
        """
        found = await self._list_all(
            "/Invoice", invoiceType="SR", **{"origin[id]": invoice_id, "origin[objectName]": "Invoice"}
        )
        return [i for i in found if i.get("invoiceType") == "SR" and _ref_id(i.get("origin")) == invoice_id]

    async def get_invoice(self, invoice_id: str) -> JsonObject:
        return await self._get_one(f"/Invoice/{int(invoice_id)}")

    async def invoice_positions(self, invoice_id: str) -> list[JsonObject]:
        return await self._list_all(f"/Invoice/{int(invoice_id)}/getPositions")

    async def delete_invoice(self, invoice_id: str) -> None:
        await self._request("DELETE", f"/Invoice/{int(invoice_id)}", idempotent=True)

    async def cancel_invoice(self, invoice_id: str) -> JsonObject:
        return await self._write("POST", f"/Invoice/{int(invoice_id)}/cancelInvoice", {})

    async def book_invoice(self, invoice_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/Invoice/{int(invoice_id)}/bookAmount", body)

    # --- vouchers --------------------------------------------------------------------------------

    async def save_voucher(self, body: JsonObject) -> JsonObject:
        """Create a voucher; answers `{"voucher": ..., "voucherPos": [...]}`."""
        return await self._write("POST", "/Voucher/Factory/saveVoucher", body)

    async def upload_temp_file(self, filename: str, content_type: str, data: bytes) -> str:
        """Upload a voucher's document (multipart field `file`); answers the temp file's name, which
        saveVoucher's `filename` attaches. Safe to repeat: it creates nothing but a temp file."""
        path = "/Voucher/Factory/uploadTempFile"
        try:
            objects = await self._request(
                "POST", path, upload=FormFile("file", filename, content_type, data), idempotent=True
            )
        except UncertainWriteError as exc:
            # A lost answer leaves at most a temp file nothing uses: a plain retryable failure, not a
            # write to confirm (the caller drops the save's intent, as the save was never sent).
            raise TransientError(
                f"the upload failed ({exc.summary})",
                method=exc.method,
                path=exc.path,
                status=exc.status,
                code=exc.code,
                sevdesk_message=exc.sevdesk_message,
                retry_after=exc.retry_after if isinstance(exc, AnsweredWriteError) else None,
            ) from None
        name = objects.get("filename") if isinstance(objects, dict) else None
        if not isinstance(name, str) or not name:
            raise PermanentError("the upload's answer names no temp file", method="POST", path=path)
        return name

    async def find_vouchers_by_description(self, description: str) -> list[JsonObject]:
        # `descriptionLike` is a substring filter, so it can match more than a page (the newest
        # voucher, the one looked for after a lost answer, last): read every page, keep exact matches.
        found = await self._list_all("/Voucher", descriptionLike=description)
        return [v for v in found if str(v.get("description") or "") == description]

    async def get_voucher(self, voucher_id: str) -> JsonObject:
        return await self._get_one(f"/Voucher/{int(voucher_id)}")

    async def voucher_positions(self, voucher_id: str) -> list[JsonObject]:
        found = await self._list_all(
            "/VoucherPos", **{"voucher[id]": voucher_id, "voucher[objectName]": "Voucher"}
        )
        return [p for p in found if _ref_id(p.get("voucher")) == voucher_id]

    async def book_voucher(self, voucher_id: str, body: JsonObject) -> JsonObject:
        return await self._write("PUT", f"/Voucher/{int(voucher_id)}/bookAmount", body)

    async def revenue_guidance(self) -> list[JsonObject]:
        """Booking accounts for revenue, each with the tax rules and rates it allows."""
        return await self._list_all("/ReceiptGuidance/forRevenue")

    # --- tags ------------------------------------------------------------------------------------

    async def tag(self, name: str, object_name: str, object_id: str) -> JsonObject:
        body = {"name": name, "object": ref(object_name, object_id)}
        return await self._write("POST", "/Tag/Factory/create", body)

    async def has_tag(self, name: str, object_name: str, object_id: str) -> bool:
        tags = await self._list_all("/Tag", name=name)
        tag_ids = {str(t["id"]) for t in tags if t.get("name") == name}
        if not tag_ids:
            return False
        # TagRelation documents no filters: they may be ignored, and every relation comes back.
        relations = await self._list_all(
            "/TagRelation", **{"object[id]": object_id, "object[objectName]": object_name}
        )
        return any(
            _ref_id(r.get("tag")) in tag_ids
            and _ref_id(r.get("object")) == object_id
            and (r.get("object") or {}).get("objectName") == object_name
            for r in relations
        )

    # --- payments --------------------------------------------------------------------------------

    async def get_check_account(self, check_account_id: str) -> JsonObject:
        return await self._get_one(f"/CheckAccount/{int(check_account_id)}")

    async def find_transactions(self, check_account_id: str, purpose: str) -> list[JsonObject]:
        """Transactions of a check account whose purpose contains `purpose` (a substring filter)."""
        found = await self._list_all(
            "/CheckAccountTransaction",
            **{"checkAccount[id]": check_account_id, "checkAccount[objectName]": "CheckAccount"},
            paymtPurpose=purpose,
        )
        return [
            t
            for t in found
            if _ref_id(t.get("checkAccount")) == check_account_id
            and purpose.lower() in str(t.get("paymtPurpose") or "").lower()
        ]


def _ref_id(reference: object) -> str | None:
    if isinstance(reference, dict) and reference.get("id") is not None:
        return str(reference["id"])
    return None
