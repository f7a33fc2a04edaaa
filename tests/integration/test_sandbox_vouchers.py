"""The sandbox's ReceiptGuidance, cost centres, check accounts, transactions, vouchers and bookAmount,
over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer

from .sandbox_account import TOKEN

CUSTOMER = {"id": 3, "objectName": "Category"}
RULE_1 = {"id": "1", "objectName": "TaxRule"}
# accountDatevIds of the seeded guidance (the numbers are SKR03 accounts).
ERLOESE_19 = 5101  # 8400
ERLOESE_7 = 5102  # 8300
IG_LIEFERUNG = 5104  # 8125, rule 3
EU_SERVICES = 5107  # 8336, rule 21
BUEROBEDARF = 5203  # 4930, expense
JAN_15 = int(datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp())


@dataclass
class Reply:
    status: int
    body: Any


class Api:
    """A thin sevDesk client for the tests: raw token header, JSON in and out."""

    def __init__(self, session: aiohttp.ClientSession, server: SandboxServer) -> None:
        self.session = session
        self.base_url = server.base_url
        self.control_url = server.root_url + "/__sandbox__"

    async def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Reply:
        async with self.session.request(
            method, self.base_url + path, json=json, params=params, headers={"Authorization": TOKEN}
        ) as response:
            return Reply(response.status, await response.json(content_type=None))

    async def get(self, path: str, **params: str) -> Reply:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, json: Any) -> Reply:
        return await self.call("POST", path, json=json)

    async def put(self, path: str, json: Any = None) -> Reply:
        return await self.call("PUT", path, json=json)

    async def control(self, path: str, json: Any) -> Reply:
        async with self.session.post(
            self.control_url + path, json=json, headers={"Authorization": TOKEN}
        ) as response:
            return Reply(response.status, await response.json())


@pytest.fixture
async def api(sevdesk: Sandbox) -> AsyncIterator[Api]:
    async with SandboxServer(sevdesk) as server, aiohttp.ClientSession() as session:
        yield Api(session, server)


def assert_error(reply: Reply, status: int, code: int | None = None) -> str:
    assert reply.status == status, reply.body
    assert reply.body["objects"] is None
    error = reply.body["error"]
    assert error["responseCode"] == status
    assert error["code"] == code
    uuid.UUID(error["exceptionUUID"])
    message: str = error["message"]
    assert message
    return message


def position(datev_id: int, rate: int, amount: str, *, net: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "objectName": "VoucherPos",
        "mapAll": True,
        "accountDatev": {"id": datev_id, "objectName": "AccountDatev"},
        "taxRate": rate,
        "net": net,
        ("sumNet" if net else "sumGross"): amount,
        **extra,
    }


def voucher_body(*positions: dict[str, Any], **voucher: Any) -> dict[str, Any]:
    return {
        "voucher": {
            "objectName": "Voucher",
            "mapAll": True,
            "status": 100,
            "creditDebit": "D",
            "voucherType": "VOU",
            "taxRule": RULE_1,
            "voucherDate": "15.01.2026",
            "supplierName": "XYZ Design",
            "description": "2531-Ljnk-278",
            **voucher,
        },
        "voucherPosSave": list(positions) or [position(ERLOESE_19, 19, "100")],
        "voucherPosDelete": None,
    }


async def save_voucher(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    reply = await api.post("/Voucher/Factory/saveVoucher", body)
    assert reply.status == 201, reply.body
    saved: dict[str, Any] = reply.body["objects"]
    return saved


async def check_account(api: Api, name: str) -> dict[str, Any]:
    accounts = (await api.get("/CheckAccount")).body["objects"]
    found: dict[str, Any] = next(a for a in accounts if a["name"] == name)
    return found


def ca_ref(check_account_record: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(check_account_record["id"]), "objectName": "CheckAccount"}


async def bank_import(api: Api, amount: str, purpose: str, **extra: Any) -> dict[str, Any]:
    reply = await api.control("/transactions", {"amount": amount, "paymtPurpose": purpose, **extra})
    assert reply.status == 201, reply.body
    transaction: dict[str, Any] = reply.body["transaction"]
    return transaction


def open_invoice(account: Account, gross: str = "119", status: str = "200") -> str:
    # saveInvoice belongs to another module; bookAmount needs only these fields.
    record = account.insert(
        "Invoice",
        {
            "invoiceNumber": "RE-1001",
            "invoiceType": "RE",
            "status": status,
            "sumNet": "100",
            "sumTax": "19",
            "sumGross": gross,
            "paidAmount": 0,
            "payDate": None,
        },
    )
    return str(record.id)


def booking(amount: Any, date: Any, check_account_record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "amount": amount,
        "date": date,
        "type": "N",
        "checkAccount": ca_ref(check_account_record),
        **extra,
    }


# --- ReceiptGuidance --------------------------------------------------------------------------------


async def test_guidance_lists_booking_accounts_with_rules_and_rates(api: Api) -> None:
    everything = (await api.get("/ReceiptGuidance/forAllAccounts")).body["objects"]
    revenue = (await api.get("/ReceiptGuidance/forRevenue")).body["objects"]
    expense = (await api.get("/ReceiptGuidance/forExpense")).body["objects"]

    assert len(everything) == len(revenue) + len(expense)
    assert {r["allowedReceiptTypes"][0] for r in revenue} == {"REVENUE"}
    assert {e["allowedReceiptTypes"][0] for e in expense} == {"EXPENSE"}
    numbers = {item["accountNumber"] for item in revenue}
    assert {"8400", "8300", "8200", "8125", "8120", "8338"} <= numbers
    assert "4930" in {item["accountNumber"] for item in expense}
    for item in everything:
        assert set(item) == {
            "accountDatevId",
            "accountNumber",
            "accountName",
            "description",
            "allowedTaxRules",
            "allowedReceiptTypes",
        }
        assert item["accountDatevId"] != int(item["accountNumber"])  # an internal id, not the number
    erloese_19 = next(item for item in revenue if item["accountNumber"] == "8400")
    assert erloese_19["accountDatevId"] == ERLOESE_19
    assert erloese_19["allowedTaxRules"] == [
        {
            "id": 1,
            "name": "USTPFL_UMS_EINN",
            "description": "Umsatzsteuerpflichtige Umsätze",
            "taxRates": ["NINETEEN"],
        },
        {
            "id": 11,
            "name": "KLEINUNTERNEHMER_P19",
            "description": "Steuer nicht erhoben nach §19 UStG",
            "taxRates": ["ZERO"],
        },
    ]
    erloese = next(item for item in revenue if item["accountNumber"] == "8200")
    assert erloese["allowedTaxRules"][0]["taxRates"] == ["ZERO", "SEVEN", "NINETEEN"]


async def test_guidance_for_account_number_answers_a_single_object(api: Api) -> None:
    reply = await api.get("/ReceiptGuidance/forAccountNumber", accountNumber="8125")

    assert reply.status == 200
    assert isinstance(reply.body["objects"], dict)  # not a list: the real endpoint's quirk
    assert reply.body["objects"]["accountDatevId"] == IG_LIEFERUNG
    assert [rule["name"] for rule in reply.body["objects"]["allowedTaxRules"]] == ["INNERGEM_LIEF"]
    assert "4711" in assert_error(
        await api.get("/ReceiptGuidance/forAccountNumber", accountNumber="4711"), 422
    )
    assert_error(await api.get("/ReceiptGuidance/forAccountNumber"), 400)


async def test_guidance_for_tax_rule(api: Api) -> None:
    reply = await api.get("/ReceiptGuidance/forTaxRule", taxRule="USTPFL_UMS_EINN")

    assert {item["accountNumber"] for item in reply.body["objects"]} == {"8400", "8300", "8200"}
    assert_error(await api.get("/ReceiptGuidance/forTaxRule", taxRule="NO_SUCH_RULE"), 422)


async def test_guidance_lists_page_and_the_page_size_cuts_them(api: Api, account: Account) -> None:
    everything = (await api.get("/ReceiptGuidance/forRevenue", limit="1000")).body["objects"]
    account.page_size = 2

    first = await api.get("/ReceiptGuidance/forRevenue", limit="1000", countAll="true")
    last = await api.get("/ReceiptGuidance/forRevenue", limit="1000", offset=str(len(everything) - 1))

    assert len(everything) > 2
    assert first.body["objects"] == everything[:2]
    assert int(first.body["total"]) == len(everything)
    assert last.body["objects"] == everything[-1:]


async def test_without_small_business_guidance_no_account_offers_rule_11(api: Api, account: Account) -> None:
    small = (await api.get("/ReceiptGuidance/forTaxRule", taxRule="KLEINUNTERNEHMER_P19")).body["objects"]
    assert {item["accountNumber"] for item in small} == {"8400", "8300", "8200"}

    changed = await api.control("/settings", {"small_business_guidance": False})

    assert changed.status == 200
    assert changed.body == {
        "tax_rounding": "per_rate",
        "small_business_guidance": False,
        "page_size": 1000,
        "refuse_equal_delivery_date": False,
    }
    assert account.small_business_guidance is False
    everything = (await api.get("/ReceiptGuidance/forAllAccounts")).body["objects"]
    assert all(rule["id"] != 11 for item in everything for rule in item["allowedTaxRules"])
    assert_error(await api.get("/ReceiptGuidance/forTaxRule", taxRule="KLEINUNTERNEHMER_P19"), 422)
    body = voucher_body(position(ERLOESE_19, 0, "100"), taxRule={"id": 11, "objectName": "TaxRule"})
    assert "taxRule 11" in assert_error(await api.post("/Voucher/Factory/saveVoucher", body), 422)


async def test_settings_control_route_validates(api: Api) -> None:
    assert (await api.control("/settings", {"tax_rounding": "per_cent"})).status == 400
    assert (await api.control("/settings", {"small_business_guidance": "no"})).status == 400
    assert (await api.control("/settings", {"bogus": 1})).status == 400
    reply = await api.control("/settings", {"tax_rounding": "per_position"})
    assert reply.body["tax_rounding"] == "per_position"
    assert reply.body["small_business_guidance"] is True


# --- cost centres and check accounts ----------------------------------------------------------------


async def test_cost_centres_are_seeded(api: Api) -> None:
    centres = (await api.get("/CostCentre")).body["objects"]

    assert [c["name"] for c in centres] == ["Vertrieb", "Projekte"]
    assert centres[0]["objectName"] == "CostCentre"
    assert (await api.get(f"/CostCentre/{centres[1]['id']}")).body["objects"] == [centres[1]]
    assert_error(await api.get("/CostCentre/99999"), 404, 151)


async def test_check_accounts_are_seeded(api: Api) -> None:
    accounts = (await api.get("/CheckAccount")).body["objects"]

    assert [(a["name"], a["type"]) for a in accounts] == [
        ("Geschäftskonto", "online"),
        ("PayPal", "online"),
        ("Verrechnungskonto", "offline"),
        ("Kasse", "register"),
    ]
    bank = accounts[0]
    assert bank["defaultAccount"] == "1"
    assert bank["status"] == "100"
    assert bank["iban"]
    assert bank["accountingNumber"] == "1200"
    assert (await api.get(f"/CheckAccount/{bank['id']}")).body["objects"] == [bank]
    assert_error(await api.get("/CheckAccount/99999"), 404, 151)


# --- transactions -----------------------------------------------------------------------------------


async def test_transactions_can_be_created_on_online_accounts_only(api: Api) -> None:
    bank = await check_account(api, "Geschäftskonto")
    body = {
        "checkAccount": ca_ref(bank),
        "valueDate": "2026-01-15",
        "amount": "261.80",
        "paymtPurpose": "RE 2531-Ljnk-278",
        "payeePayerName": "XYZ Design",
        "status": 100,
    }

    reply = await api.post("/CheckAccountTransaction", body)

    assert reply.status == 201, reply.body
    created = reply.body["objects"]
    assert created["objectName"] == "CheckAccountTransaction"
    assert created["amount"] == 261.8  # a JSON number
    assert created["status"] == "100"
    assert created["checkAccount"] == {"id": bank["id"], "objectName": "CheckAccount"}
    assert created["valueDate"] == "2026-01-15T00:00:00+01:00"
    assert created["entryDate"] == created["valueDate"]
    for name in ("Verrechnungskonto", "Kasse"):
        other = await check_account(api, name)
        message = assert_error(
            await api.post("/CheckAccountTransaction", {**body, "checkAccount": ca_ref(other)}), 422
        )
        assert "online" in message
    assert_error(await api.post("/CheckAccountTransaction", {**body, "status": 400}), 422)
    refused = await api.control(
        "/transactions", {"amount": "5", "checkAccount": int((await check_account(api, "Kasse"))["id"])}
    )
    assert refused.status == 400


async def test_transaction_filters(api: Api) -> None:
    bank = await check_account(api, "Geschäftskonto")
    paypal = await check_account(api, "PayPal")
    first = await bank_import(api, "261.80", "Rechnung 2531-LJNK-278", valueDate="10.01.2026")
    second = await bank_import(api, "-12.50", "Kontoführung", valueDate="20.01.2026")
    third = await bank_import(
        api, "99", "PayPal 2531-ljnk-300", checkAccount=int(paypal["id"]), valueDate=JAN_15
    )

    async def ids(**params: str) -> list[str]:
        return [t["id"] for t in (await api.get("/CheckAccountTransaction", **params)).body["objects"]]

    assert first["checkAccount"]["id"] == bank["id"]  # the default online account
    assert await ids(paymtPurpose="ljnk") == [first["id"], third["id"]]  # substring, any case
    assert await ids(**{"checkAccount[id]": paypal["id"], "checkAccount[objectName]": "CheckAccount"}) == [
        third["id"]
    ]
    assert await ids(onlyDebit="true") == [second["id"]]
    assert await ids(startDate=str(JAN_15 - 86400), endDate=str(JAN_15 + 86400)) == [third["id"]]
    assert await ids(isBooked="false") == [first["id"], second["id"], third["id"]]  # ignored
    assert await ids(isBooked="true") == []
    assert await ids(status="100") == [first["id"], second["id"], third["id"]]


async def test_transactions_are_deleted_only_while_unlinked(api: Api, account: Account) -> None:
    unlinked = await bank_import(api, "10", "to delete")
    linked = await bank_import(api, "119", "RE-1001")
    invoice_id = open_invoice(account)
    bank = await check_account(api, "Geschäftskonto")
    transaction_ref = {"id": int(linked["id"]), "objectName": "CheckAccountTransaction"}
    booked = await api.put(
        f"/Invoice/{invoice_id}/bookAmount",
        booking("119", JAN_15, bank, checkAccountTransaction=transaction_ref),
    )
    assert booked.status == 200, booked.body

    reply = await api.call("DELETE", f"/CheckAccountTransaction/{unlinked['id']}")

    assert reply.body == {"objects": [None]}
    assert [t["id"] for t in (await api.get("/CheckAccountTransaction")).body["objects"]] == [linked["id"]]
    kept = (await api.get(f"/CheckAccountTransaction/{unlinked['id']}")).body["objects"]
    assert kept[0]["deletedAt"]  # still answers by id
    assert_error(await api.call("DELETE", f"/CheckAccountTransaction/{unlinked['id']}"), 404, 151)
    assert_error(await api.call("DELETE", f"/CheckAccountTransaction/{linked['id']}"), 409, 159)


# --- vouchers ---------------------------------------------------------------------------------------


async def test_save_voucher_computes_totals_per_tax_rate(api: Api, account: Account) -> None:
    body = voucher_body(
        position(ERLOESE_19, 19, "100", comment="Beratung"), position(ERLOESE_7, 7, "50.00", comment="Bücher")
    )

    saved = await save_voucher(api, body)

    voucher, positions = saved["voucher"], saved["voucherPos"]
    assert voucher["objectName"] == "Voucher"
    assert (voucher["sumNet"], voucher["sumTax"], voucher["sumGross"]) == ("150", "22.5", "172.5")
    assert voucher["status"] == "100"
    assert voucher["paidAmount"] == 0
    assert voucher["creditDebit"] == "D"
    assert voucher["taxRule"] == {"id": "1", "objectName": "TaxRule"}
    assert voucher["voucherDate"] == "2026-01-15T00:00:00+01:00"
    assert [(p["sumNet"], p["sumTax"], p["sumGross"], p["taxRate"]) for p in positions] == [
        ("100", "19", "119", "19"),
        ("50", "3.5", "53.5", "7"),
    ]
    assert positions[0]["accountDatev"] == {"id": str(ERLOESE_19), "objectName": "AccountDatev"}
    assert positions[0]["voucher"] == {"id": voucher["id"], "objectName": "Voucher"}
    assert (await api.get(f"/Voucher/{voucher['id']}")).body["objects"] == [voucher]
    listed = await api.get("/VoucherPos", **{"voucher[id]": voucher["id"], "voucher[objectName]": "Voucher"})
    assert listed.body["objects"] == positions
    assert account.objects("Voucher") == [voucher]


@pytest.mark.parametrize(("rounding", "tax"), [("per_rate", "0.05"), ("per_position", "0.04")])
async def test_voucher_tax_follows_the_rounding_setting(
    api: Api, account: Account, rounding: str, tax: str
) -> None:
    account.tax_rounding = rounding

    saved = await save_voucher(
        api, voucher_body(position(ERLOESE_19, 19, "0.13"), position(ERLOESE_19, 19, "0.13"))
    )

    assert saved["voucher"]["sumTax"] == tax


async def test_gross_positions_keep_the_gross_and_derive_the_net(api: Api) -> None:
    body = voucher_body(
        position(ERLOESE_19, 19, "119", net=False), position(ERLOESE_7, 7, "10.70", net=False)
    )

    voucher = (await save_voucher(api, body))["voucher"]

    assert (voucher["sumNet"], voucher["sumTax"], voucher["sumGross"]) == ("110", "19.7", "129.7")


async def test_negative_amounts_make_a_correcting_voucher(api: Api) -> None:
    voucher = (await save_voucher(api, voucher_body(position(ERLOESE_19, 19, "-100"))))["voucher"]

    assert (voucher["sumNet"], voucher["sumTax"], voucher["sumGross"]) == ("-100", "-19", "-119")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (voucher_body(position(9999, 19, "100")), "accountDatev 9999"),
        (voucher_body(position(BUEROBEDARF, 19, "100")), "EXPENSE"),
        (
            voucher_body(position(ERLOESE_19, 0, "100"), taxRule={"id": 3, "objectName": "TaxRule"}),
            "taxRule 3",
        ),
        (voucher_body(position(ERLOESE_19, 7, "100")), "tax rate 7"),
        (voucher_body(position(EU_SERVICES, 0, "100"), taxRule={"id": 21, "objectName": "TaxRule"}), "21"),
        (
            voucher_body(position(ERLOESE_19, 19, "100"), position(ERLOESE_7, 7, "10", net=False)),
            "net or gross",
        ),
        (voucher_body(position(ERLOESE_19, 19, "100"), taxRule=None), "taxRule"),
        (voucher_body(position(ERLOESE_19, 19, "100"), status=200), "status"),
        (voucher_body(position(ERLOESE_19, 19, "100"), status=1000), "status"),
        (voucher_body(position(ERLOESE_19, 19, "100"), creditDebit="X"), "creditDebit"),
        (
            voucher_body(position(ERLOESE_19, 19, "100"), supplier={"id": 4242, "objectName": "Contact"}),
            "4242",
        ),
        (
            voucher_body(
                position(ERLOESE_19, 19, "100"), costCentre={"id": 4242, "objectName": "CostCentre"}
            ),
            "4242",
        ),
        (voucher_body(position(ERLOESE_19, 19, "100"), supplierName=None), "supplier"),
        (voucher_body(position(ERLOESE_19, 19, "100"), status=50, supplierName=""), "supplier"),
        (voucher_body(position(ERLOESE_19, 19, "100"), mapAll=None), "mapAll"),
        (voucher_body({**position(ERLOESE_19, 19, "100"), "accountDatev": None}), "accountDatev"),
        (voucher_body({**position(ERLOESE_19, 19, "100"), "sumNet": None}), "sumNet"),
    ],
    ids=[
        "unknown-account",
        "expense-account-on-revenue-voucher",
        "rule-not-allowed-on-account",
        "rate-not-allowed-for-rule",
        "rule-21-not-for-vouchers",
        "mixed-net-and-gross",
        "no-tax-rule",
        "create-in-status-200",
        "create-in-status-1000",
        "bad-credit-debit",
        "unknown-supplier",
        "unknown-cost-centre",
        "no-counterparty",
        "draft-without-counterparty",
        "no-map-all",
        "no-account-datev",
        "no-sum",
    ],
)
async def test_save_voucher_validation_is_422(
    api: Api, account: Account, body: dict[str, Any], fragment: str
) -> None:
    message = assert_error(await api.post("/Voucher/Factory/saveVoucher", body), 422)

    assert fragment in message
    assert account.objects("Voucher") == []
    assert account.objects("VoucherPos") == []


async def test_expense_vouchers_use_expense_accounts(api: Api) -> None:
    body = voucher_body(
        position(BUEROBEDARF, 19, "20"), creditDebit="C", taxRule={"id": 9, "objectName": "TaxRule"}
    )

    voucher = (await save_voucher(api, body))["voucher"]

    assert voucher["sumGross"] == "23.8"
    revenue_on_expense = voucher_body(
        position(ERLOESE_19, 19, "20"), creditDebit="C", taxRule={"id": 9, "objectName": "TaxRule"}
    )
    assert "REVENUE" in assert_error(await api.post("/Voucher/Factory/saveVoucher", revenue_on_expense), 422)


async def test_a_draft_is_updated_with_all_its_positions(api: Api, account: Account) -> None:
    centre = (await api.get("/CostCentre")).body["objects"][0]
    draft = await save_voucher(
        api,
        voucher_body(position(ERLOESE_19, 19, "100"), position(ERLOESE_7, 7, "50"), status=50),
    )
    first, second = draft["voucherPos"]
    update = voucher_body(
        {"id": first["id"], "objectName": "VoucherPos", "mapAll": True, "sumNet": "200"},
        position(ERLOESE_19, 19, "10"),
        id=draft["voucher"]["id"],
        status=50,
        costCentre={"id": centre["id"], "objectName": "CostCentre"},
    )
    update["voucherPosDelete"] = [{"id": second["id"], "objectName": "VoucherPos"}]

    updated = await save_voucher(api, update)

    voucher = updated["voucher"]
    assert voucher["id"] == draft["voucher"]["id"]
    assert voucher["costCentre"] == {"id": centre["id"], "objectName": "CostCentre"}
    assert [p["sumNet"] for p in updated["voucherPos"]] == ["200", "10"]
    assert updated["voucherPos"][0]["id"] == first["id"]
    assert (voucher["sumNet"], voucher["sumTax"], voucher["sumGross"]) == ("210", "39.9", "249.9")
    assert len(account.objects("VoucherPos")) == 2


async def test_only_drafts_can_be_changed(api: Api) -> None:
    opened = (await save_voucher(api, voucher_body()))["voucher"]
    update = voucher_body(id=opened["id"], description="changed")

    assert_error(await api.post("/Voucher/Factory/saveVoucher", update), 400, 90400)
    assert_error(await api.put(f"/Voucher/{opened['id']}", {"description": "changed"}), 400, 90400)

    reset = await api.put(f"/Voucher/{opened['id']}/resetToDraft")
    assert reset.body["objects"]["status"] == "50"
    changed = await api.put(f"/Voucher/{opened['id']}", {"description": "changed"})
    assert changed.body["objects"]["description"] == "changed"
    assert_error(await api.put(f"/Voucher/{opened['id']}", {"status": 100}), 422)
    assert (await save_voucher(api, update))["voucher"]["status"] == "100"


async def test_voucher_list_filters(api: Api) -> None:
    contact = (await api.post("/Contact", {"name": "XYZ Design", "category": CUSTOMER})).body["objects"]
    supplier = {"id": contact["id"], "objectName": "Contact"}
    first = (await save_voucher(api, voucher_body(description="2531-Ljnk-278", supplier=supplier)))["voucher"]
    second = (await save_voucher(api, voucher_body(description="2531-LJNK-279", status=50)))["voucher"]
    expense = voucher_body(
        position(BUEROBEDARF, 19, "20"),
        description="Papier",
        creditDebit="C",
        taxRule={"id": 9, "objectName": "TaxRule"},
    )
    third = (await save_voucher(api, expense))["voucher"]

    async def ids(**params: str) -> list[str]:
        return [v["id"] for v in (await api.get("/Voucher", **params)).body["objects"]]

    assert await ids(descriptionLike="ljnk") == [first["id"], second["id"]]
    assert await ids(descriptionLike="2531-Ljnk-278") == [first["id"]]
    assert await ids(creditDebit="C") == [third["id"]]
    assert await ids(status="50") == [second["id"]]
    assert await ids(**{"contact[id]": contact["id"], "contact[objectName]": "Contact"}) == [first["id"]]
    assert_error(await api.get("/Voucher/99999"), 404, 151)


# --- bookAmount -------------------------------------------------------------------------------------


async def test_invoice_booking_on_an_offline_account(api: Api, account: Account) -> None:
    invoice_id = open_invoice(account, gross="119")
    clearing = await check_account(api, "Verrechnungskonto")

    partial = await api.put(f"/Invoice/{invoice_id}/bookAmount", booking("50", JAN_15, clearing))
    rest = await api.put(
        f"/Invoice/{invoice_id}/bookAmount", booking(69, JAN_15, clearing, type="FULL_PAYMENT")
    )
    again = await api.put(f"/Invoice/{invoice_id}/bookAmount", booking("1", JAN_15, clearing))

    assert partial.status == 200, partial.body
    log = partial.body["objects"]
    assert log["objectName"] == "InvoiceLog"
    assert (log["fromStatus"], log["toStatus"], log["ammountPayed"]) == ("200", "750", "50")
    assert log["invoice"] == {"id": invoice_id, "objectName": "Invoice"}
    assert rest.body["objects"]["toStatus"] == "1000"
    assert_error(again, 422, 750)
    invoice = account.find("Invoice", int(invoice_id))
    assert invoice is not None
    assert invoice.fields["paidAmount"] == 119
    assert invoice.fields["status"] == "1000"
    assert invoice.fields["payDate"] == "2026-01-15T13:00:00+01:00"
    # Offline accounts record the payments as booked transactions.
    transactions = (await api.get("/CheckAccountTransaction", **{"checkAccount[id]": clearing["id"]})).body[
        "objects"
    ]
    assert [(t["amount"], t["status"], t["paymtPurpose"]) for t in transactions] == [
        (50, "400", "RE-1001"),
        (69, "400", "RE-1001"),
    ]


@pytest.mark.parametrize("amount", ["100", "119.01", "-119"])
async def test_a_full_payment_of_another_amount_than_the_open_one_is_refused(
    api: Api, account: Account, amount: str
) -> None:
    invoice_id = open_invoice(account, gross="119")
    clearing = await check_account(api, "Verrechnungskonto")
    path = f"/Invoice/{invoice_id}/bookAmount"

    reply = await api.put(path, booking(amount, JAN_15, clearing, type="FULL_PAYMENT"))

    message = assert_error(reply, 422)
    assert "FULL_PAYMENT" in message
    assert "(119)" in message
    invoice = account.find("Invoice", int(invoice_id))
    assert invoice is not None
    assert (invoice.fields["status"], invoice.fields["paidAmount"]) == ("200", 0)
    assert account.objects("CheckAccountTransaction") == []
    assert account.table("InvoiceLog") == {}


async def test_a_full_payment_settles_what_partial_payments_left_open(api: Api, account: Account) -> None:
    invoice_id = open_invoice(account, gross="119")
    clearing = await check_account(api, "Verrechnungskonto")
    path = f"/Invoice/{invoice_id}/bookAmount"
    await api.put(path, booking("19.5", JAN_15, clearing))

    whole = await api.put(path, booking("119", JAN_15, clearing, type="FULL_PAYMENT"))
    rest = await api.put(path, booking("99.50", JAN_15, clearing, type="FULL_PAYMENT"))

    assert "(99.5)" in assert_error(whole, 422)
    assert rest.status == 200, rest.body
    assert (rest.body["objects"]["fromStatus"], rest.body["objects"]["toStatus"]) == ("750", "1000")


async def test_a_full_payment_of_an_expense_voucher_carries_the_minus(api: Api) -> None:
    body = voucher_body(
        position(BUEROBEDARF, 19, "20"), creditDebit="C", taxRule={"id": 9, "objectName": "TaxRule"}
    )
    voucher = (await save_voucher(api, body))["voucher"]  # 23.80 gross
    register = await check_account(api, "Kasse")
    path = f"/Voucher/{voucher['id']}/bookAmount"

    positive = await api.put(
        path, booking("23.80", "2026-01-15T10:00:00+01:00", register, type="FULL_PAYMENT")
    )
    negative = await api.put(
        path, booking("-23.80", "2026-01-15T10:00:00+01:00", register, type="FULL_PAYMENT")
    )

    assert "(-23.8)" in assert_error(positive, 422)
    assert negative.status == 200, negative.body
    assert negative.body["objects"]["toStatus"] == "1000"


@pytest.mark.parametrize("date", ["2026-01-15", "15.01.2026", "2026-01-15T00:00:00+01:00", 1.5, None])
async def test_invoice_booking_needs_a_unix_timestamp(api: Api, account: Account, date: Any) -> None:
    invoice_id = open_invoice(account)
    clearing = await check_account(api, "Verrechnungskonto")

    reply = await api.put(f"/Invoice/{invoice_id}/bookAmount", booking("50", date, clearing))

    assert "date" in assert_error(reply, 422)
    invoice = account.find("Invoice", int(invoice_id))
    assert invoice is not None
    assert invoice.fields["status"] == "200"
    assert invoice.fields["paidAmount"] == 0


async def test_drafts_cannot_be_booked(api: Api, account: Account) -> None:
    invoice_id = open_invoice(account, status="100")
    draft = (await save_voucher(api, voucher_body(status=50)))["voucher"]
    clearing = await check_account(api, "Verrechnungskonto")

    assert "draft" in assert_error(
        await api.put(f"/Invoice/{invoice_id}/bookAmount", booking("50", JAN_15, clearing)), 422
    )
    assert "draft" in assert_error(
        await api.put(
            f"/Voucher/{draft['id']}/bookAmount", booking("50", "2026-01-15T10:00:00+01:00", clearing)
        ),
        422,
    )
    assert_error(await api.put("/Invoice/99999/bookAmount", booking("50", JAN_15, clearing)), 404, 151)


async def test_online_accounts_need_an_unlinked_transaction_of_their_own(api: Api, account: Account) -> None:
    invoice_id = open_invoice(account)
    bank = await check_account(api, "Geschäftskonto")
    paypal = await check_account(api, "PayPal")
    transaction = await bank_import(api, "119", "RE-1001")
    transaction_ref = {"id": int(transaction["id"]), "objectName": "CheckAccountTransaction"}
    path = f"/Invoice/{invoice_id}/bookAmount"

    without = await api.put(path, booking("119", JAN_15, bank))
    foreign = await api.put(path, booking("119", JAN_15, paypal, checkAccountTransaction=transaction_ref))
    linked = await api.put(path, booking("119", JAN_15, bank, checkAccountTransaction=transaction_ref))

    assert "checkAccountTransaction" in assert_error(without, 422)
    assert "does not belong" in assert_error(foreign, 422)
    assert linked.status == 200, linked.body
    assert linked.body["objects"]["toStatus"] == "1000"
    stored = (await api.get(f"/CheckAccountTransaction/{transaction['id']}")).body["objects"][0]
    assert stored["status"] == "200"  # linked
    other = open_invoice(account)
    reused = await api.put(
        f"/Invoice/{other}/bookAmount", booking("119", JAN_15, bank, checkAccountTransaction=transaction_ref)
    )
    assert "already linked" in assert_error(reused, 422)
    logs = await api.get("/CheckAccountTransactionLog", **{"checkAccountTransaction[id]": transaction["id"]})
    assert [log["object"] for log in logs.body["objects"]] == [{"id": invoice_id, "objectName": "Invoice"}]


async def test_voucher_booking_needs_a_date_time_string(api: Api, account: Account) -> None:
    voucher = (await save_voucher(api, voucher_body()))["voucher"]  # 119 gross
    register = await check_account(api, "Kasse")
    path = f"/Voucher/{voucher['id']}/bookAmount"

    as_integer = await api.put(path, booking("119", JAN_15, register))
    as_digits = await api.put(path, booking("119", str(JAN_15), register))
    paid = await api.put(path, booking("119.00", "2026-01-15T10:00:00+01:00", register))
    again = await api.put(path, booking("1", "2026-01-16T10:00:00+01:00", register))

    assert "date-time" in assert_error(as_integer, 422)
    assert_error(as_digits, 422)
    assert paid.status == 200, paid.body
    log = paid.body["objects"]
    assert log["objectName"] == "VoucherLog"
    assert (log["fromStatus"], log["toStatus"], log["amountPayed"]) == ("100", "1000", "119")
    assert_error(again, 422, 751)
    stored = (await api.get(f"/Voucher/{voucher['id']}")).body["objects"][0]
    assert stored["paidAmount"] == 119
    assert stored["status"] == "1000"
    assert stored["payDate"] == "2026-01-15T10:00:00+01:00"


async def test_expense_vouchers_are_paid_with_negative_amounts(api: Api) -> None:
    body = voucher_body(
        position(BUEROBEDARF, 19, "20"), creditDebit="C", taxRule={"id": 9, "objectName": "TaxRule"}
    )
    voucher = (await save_voucher(api, body))["voucher"]  # 23.80 gross
    register = await check_account(api, "Kasse")
    path = f"/Voucher/{voucher['id']}/bookAmount"

    wrong_sign = await api.put(path, booking("23.80", "2026-01-15", register))
    stored = (await api.get(f"/Voucher/{voucher['id']}")).body["objects"][0]
    assert wrong_sign.status == 200
    assert (stored["paidAmount"], stored["status"]) == (-23.8, "750")

    await api.put(path, booking("-47.60", "2026-01-15", register))

    stored = (await api.get(f"/Voucher/{voucher['id']}")).body["objects"][0]
    assert (stored["paidAmount"], stored["status"]) == (23.8, "1000")


async def test_reset_to_open_unlinks_payments_and_then_to_draft(api: Api) -> None:
    voucher = (await save_voucher(api, voucher_body()))["voucher"]
    bank = await check_account(api, "Geschäftskonto")
    transaction = await bank_import(api, "50", "2531-Ljnk-278")
    transaction_ref = {"id": int(transaction["id"]), "objectName": "CheckAccountTransaction"}
    booked = await api.put(
        f"/Voucher/{voucher['id']}/bookAmount",
        booking("50", "2026-01-15T10:00:00+01:00", bank, checkAccountTransaction=transaction_ref),
    )
    assert booked.body["objects"]["toStatus"] == "750"

    assert "payments" in assert_error(await api.put(f"/Voucher/{voucher['id']}/resetToDraft"), 422)
    reopened = await api.put(f"/Voucher/{voucher['id']}/resetToOpen")

    assert reopened.body["objects"]["status"] == "100"
    assert reopened.body["objects"]["paidAmount"] == 0
    unlinked = (await api.get(f"/CheckAccountTransaction/{transaction['id']}")).body["objects"][0]
    assert unlinked["status"] == "100"
    assert (await api.put(f"/Voucher/{voucher['id']}/resetToDraft")).body["objects"]["status"] == "50"


async def test_book_amount_validates_its_body(api: Api, account: Account) -> None:
    invoice_id = open_invoice(account)
    clearing = await check_account(api, "Verrechnungskonto")
    path = f"/Invoice/{invoice_id}/bookAmount"

    assert "checkAccount" in assert_error(
        await api.put(path, {"amount": "5", "date": JAN_15, "type": "N"}), 422
    )
    assert "type" in assert_error(await api.put(path, booking("5", JAN_15, clearing, type="X")), 422)
    assert "0" in assert_error(await api.put(path, booking("0", JAN_15, clearing)), 422)
    unknown = {"id": 99999, "objectName": "CheckAccount"}
    assert "99999" in assert_error(
        await api.put(path, {**booking("5", JAN_15, clearing), "checkAccount": unknown}), 422
    )
