"""A client for the sandbox tests of stamps, change filters and people's actions: the API, the
control routes and the sandbox's clock, with makers of the objects those tests change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sevsync.sandbox.clock import Clock

from .sandbox_account import TOKEN
from .test_sandbox_api import CUSTOMER, GERMANY, INVOICE_ADDRESS, PIECE, Api, Reply
from .test_sandbox_documents import Parties, invoice_body, ipos, order_body, pos
from .test_sandbox_vouchers import voucher_body

# 09:00 UTC in November: 10:00 in Berlin (CET).
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MINUTE = 60
WORK_KEY = {"id": 2, "objectName": "CommunicationWayKey"}


def stamp(moment: datetime) -> str:
    """How the sandbox renders ``moment`` (written out here, not computed by the code under test)."""
    assert moment.month in (11, 12, 1, 2)  # winter time only: +01:00
    return (moment + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")


def unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def ref(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(record["id"]), "objectName": record["objectName"]}


@dataclass
class Desk:
    """The API, the control routes and the clock of one running sandbox."""

    api: Api
    control_url: str
    clock: Clock

    async def ok(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        reply = await self.api.call(method, path, json=body, params=params or None)
        assert reply.status in (200, 201), (method, path, reply.body)
        return reply.body["objects"]

    async def control(self, method: str, path: str, body: Any = None) -> Reply:
        headers = {"Authorization": TOKEN}
        async with self.api.session.request(
            method, self.control_url + path, json=body, headers=headers
        ) as response:
            return Reply(response.status, await response.json(content_type=None), response.headers)

    async def ui(self, method: str, path: str, body: Any = None) -> Reply:
        return await self.control(method, "/ui" + path, body)

    async def one(self, path: str) -> dict[str, Any]:
        [found] = await self.ok("GET", path)
        assert isinstance(found, dict)
        return found

    # --- makers -------------------------------------------------------------------------------------

    async def contact(self, name: str = "ACME GmbH") -> dict[str, Any]:
        made: dict[str, Any] = await self.ok("POST", "/Contact", {"name": name, "category": CUSTOMER})
        return made

    async def parties(self) -> Parties:
        contact = await self.contact()
        [user] = await self.ok("GET", "/SevUser")
        return Parties(contact=ref(contact), user={"id": int(user["id"]), "objectName": "SevUser"})

    async def address(self, contact: dict[str, Any]) -> dict[str, Any]:
        body = {
            "contact": ref(contact),
            "street": "Weg 1",
            "zip": "24103",
            "city": "Kiel",
            "country": GERMANY,
            "category": INVOICE_ADDRESS,
        }
        made: dict[str, Any] = await self.ok("POST", "/ContactAddress", body)
        return made

    async def email(self, contact: dict[str, Any]) -> dict[str, Any]:
        body = {"contact": ref(contact), "type": "EMAIL", "value": "rechnung@acme.example", "key": WORK_KEY}
        made: dict[str, Any] = await self.ok("POST", "/CommunicationWay", body)
        return made

    async def part(self, number: str = "P-1") -> dict[str, Any]:
        body = {"name": "Beratung", "partNumber": number, "stock": 0, "unity": PIECE, "taxRate": 19}
        made: dict[str, Any] = await self.ok("POST", "/Part", body)
        return made

    async def order(self, number: str = "AN-1001", parties: Parties | None = None) -> dict[str, Any]:
        body = order_body(parties or await self.parties(), [pos("100")], orderNumber=number)
        saved = await self.ok("POST", "/Order/Factory/saveOrder", body)
        order: dict[str, Any] = saved["order"]
        return order

    async def invoice(self, parties: Parties | None = None, **header: Any) -> dict[str, Any]:
        """A draft invoice of 100.00 net at 19 %."""
        body = invoice_body(parties or await self.parties(), [ipos("100")], **header)
        saved = await self.ok("POST", "/Invoice/Factory/saveInvoice", body)
        invoice: dict[str, Any] = saved["invoice"]
        return invoice

    async def open_invoice(self) -> dict[str, Any]:
        draft = await self.invoice()
        sent: dict[str, Any] = await self.ok(
            "PUT", f"/Invoice/{draft['id']}/sendBy", {"sendType": "VM", "sendDraft": False}
        )
        return sent

    async def voucher(self, status: int = 100, description: str = "2531-Ljnk-278") -> dict[str, Any]:
        body = voucher_body(status=status, description=description)
        saved = await self.ok("POST", "/Voucher/Factory/saveVoucher", body)
        voucher: dict[str, Any] = saved["voucher"]
        return voucher

    async def clearing_account(self) -> dict[str, Any]:
        accounts = await self.ok("GET", "/CheckAccount")
        found: dict[str, Any] = next(a for a in accounts if a["name"] == "Verrechnungskonto")
        return {"id": int(found["id"]), "objectName": "CheckAccount"}
