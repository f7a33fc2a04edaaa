"""In-memory state of the sandbox: one :class:`Account` per API token.

Objects are kept as :class:`Record` (typed fields in their wire form plus private metadata) and
rendered the way the real API renders them: ids as strings, references as
``{"id": "12", "objectName": "Contact"}``, timestamps in ISO 8601 with the Berlin offset. ``create``
and ``update`` come from the account's clock (see :mod:`sevsync.sandbox.clock`); every write through
:meth:`Account.update` moves ``update``.
Ids come from one counter per account, so an id of one object type never resolves as another
type (a client mixing them up gets a 404, as it would against the real service).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from .clock import Clock

# Object types whose stored objects tests may inspect through Account.objects(). Extend this
# tuple when a new resource module adds a writable object type.
OBJECT_NAMES: tuple[str, ...] = (
    "Contact",
    "ContactAddress",
    "CommunicationWay",
    "Part",
    "SevUser",
    "Order",
    "OrderPos",
    "Invoice",
    "InvoicePos",
    "Voucher",
    "VoucherPos",
    "CheckAccount",
    "CheckAccountTransaction",
    "CostCentre",
    "Tag",
    "TagRelation",
    "Document",
)

# The most objects one list answer holds unless an account is set lower (the spec's maximum).
DEFAULT_PAGE_SIZE = 1000
FIRST_OBJECT_ID = 1000  # well above typical counts, so an id is never mistaken for a count
FIRST_ACCOUNT_ID = 100_001

_account_ids = itertools.count(FIRST_ACCOUNT_ID)


def _last_sunday(year: int, month: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = next_month - timedelta(days=1)
    return last_day - timedelta(days=(last_day.weekday() - 6) % 7)


def berlin_offset(moment: datetime) -> timezone:
    """CET/CEST for an aware UTC moment (EU rule: summer time between the last Sundays of March and
    October, 01:00 UTC). Computed here so the sandbox needs no tz database in slim containers."""
    year = moment.year
    start = datetime.combine(_last_sunday(year, 3), datetime.min.time(), UTC) + timedelta(hours=1)
    end = datetime.combine(_last_sunday(year, 10), datetime.min.time(), UTC) + timedelta(hours=1)
    return timezone(timedelta(hours=2 if start <= moment < end else 1))


def berlin_iso(moment: datetime) -> str:
    """An aware moment as sevDesk renders it: ISO 8601 with the Berlin offset, to the second
    (e.g. ``2026-10-01T16:35:22+02:00``)."""
    utc = moment.astimezone(UTC).replace(microsecond=0)
    return utc.astimezone(berlin_offset(utc)).isoformat()


def ref(object_name: str, object_id: int | str) -> dict[str, str]:
    """A reference to another object in its wire form."""
    return {"id": str(object_id), "objectName": object_name}


@dataclass
class Record:
    """One stored object. ``fields`` hold wire values; ``meta`` holds what the API never shows."""

    id: int
    object_name: str
    sev_client_id: int
    created: str
    updated: str
    fields: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        # Deep copy: callers (handlers, tests) must not be able to change the stored state.
        return {
            "id": str(self.id),
            "objectName": self.object_name,
            "additionalInformation": None,
            "create": self.created,
            "update": self.updated,
            **copy.deepcopy(self.fields),
            "sevClient": ref("SevClient", self.sev_client_id),
        }


@dataclass(frozen=True)
class CallRecord:
    """One API request as seen by the sandbox. Never holds the token.

    ``path`` is relative to ``/api/v1`` (e.g. ``/Contact/1001``), as fault rules match it;
    ``status`` is ``None`` when no answer was sent (dropped connection or cancelled handler);
    ``fault`` names the fault kind applied to the request, if any.
    """

    account_id: int | None
    method: str
    path: str
    query: dict[str, str]
    status: int | None
    fault: str | None = None


@dataclass
class TempFile:
    """An uploaded file not attached yet (see :mod:`sevsync.sandbox.attachments`)."""

    filename: str  # the name the upload answered, e.g. ``<md5>.pdf``
    content_hash: str
    size: int
    answer: dict[str, Any]  # the upload answer's ``objects``, repeated for the same bytes
    uploads: int = 0  # accepted uploads of these bytes while the file waits


class Account:
    """The state of one sevDesk client (``SevClient``) reached through one API token."""

    def __init__(self, *, bookkeeping_version: str = "2.0", clock: Clock | None = None) -> None:
        self.id: int = next(_account_ids)
        self.clock = clock if clock is not None else Clock()
        self.bookkeeping_version = bookkeeping_version
        self.request_count = 0  # authenticated API requests, including faulted ones
        self._tables: dict[str, dict[int, Record]] = {}
        self._next_id = FIRST_OBJECT_ID
        self.sequences: dict[str, int] = {}  # named number sequences, e.g. customer numbers
        self.temp_files: dict[str, TempFile] = {}  # by filename, until a saveVoucher attaches them
        self.upload_count = 0  # accepted uploadTempFile requests
        # How sevDesk's totals are emulated (see sandbox.money): "per_rate" as the contract assumes,
        # "per_position" to make a test see sevDesk disagree with sevsync's figures.
        self.tax_rounding = "per_rate"
        # Whether ReceiptGuidance offers a revenue account for Kleinunternehmer (taxRule 11).
        self.small_business_guidance = True
        # The account's own company data (sevDesk's SevClient; see sandbox.company): empty until a
        # test fills it in, so the e-invoice rules refuse by default.
        self.company: dict[str, str] = {}
        self._reset_behaviour()
        self._seed()

    def _reset_behaviour(self) -> None:
        # How this account's API behaves where live accounts were seen to differ (api-notes 15).
        # The most a list answers per request, whatever `limit` asks for (sevDesk's own cap is
        # reported anywhere between 100 and 1000; a client must page every list that can grow).
        self.page_size = DEFAULT_PAGE_SIZE
        # Whether saveInvoice refuses an invoiceDate equal to the deliveryDate (422), as one live
        # session did while others accepted it.
        self.refuse_equal_delivery_date = False

    def __repr__(self) -> str:
        return f"Account(id={self.id}, bookkeeping_version={self.bookkeeping_version!r})"

    def _seed(self) -> None:
        # Every sevDesk client has at least its admin user (needed later as contactPerson).
        self.insert(
            "SevUser",
            {
                "username": f"admin@client{self.id}.example",
                "firstName": "Sandra",
                "lastName": "Sandbox",
                "fullname": "Sandra Sandbox",
                "email": f"admin@client{self.id}.example",
                "role": "admin",
                "status": "100",
                "languageCode": "de",
                "clientOwner": "1",
            },
        )
        # Payment accounts of a typical client: bank and PayPal (online: payments need an imported
        # transaction), a clearing account (offline) and a cash register. Clients look them up by
        # type and name, as their ids differ between sevDesk clients.
        for name, kind, number, iban, bank_server, default in (
            ("Geschäftskonto", "online", "1200", "DE02120300000000202051", "FINAPI", "1"),
            ("PayPal", "online", "1201", None, "PAYPAL", "0"),
            ("Verrechnungskonto", "offline", "1360", None, None, "0"),
            ("Kasse", "register", "1000", None, None, "0"),
        ):
            self.insert(
                "CheckAccount",
                {
                    "name": name,
                    "iban": iban,
                    "bic": "BYLADEM1001" if iban else None,
                    "type": kind,
                    "importType": None,
                    "currency": "EUR",
                    "defaultAccount": default,
                    "baseAccount": "1" if kind == "register" else "0",
                    "priority": "1",
                    "status": "100",
                    "balance": None,
                    "bankServer": bank_server,
                    "autoMapTransactions": "1",
                    "autoSyncTransactions": "1" if kind == "online" else "0",
                    "lastSync": None,
                    "accountingNumber": number,
                },
            )
        for number, name in (("100", "Vertrieb"), ("200", "Projekte")):
            self.insert("CostCentre", {"number": number, "name": name, "color": None, "postingAccount": None})

    def reset(self) -> None:
        """Forget all objects and sequences, as if the account had just been created."""
        self._tables.clear()
        self._next_id = FIRST_OBJECT_ID
        self.sequences.clear()
        self.temp_files.clear()
        self.upload_count = 0
        self.request_count = 0
        self.tax_rounding = "per_rate"
        self.small_business_guidance = True
        self.company.clear()
        self._reset_behaviour()
        self._seed()

    def table(self, object_name: str) -> dict[int, Record]:
        return self._tables.setdefault(object_name, {})

    def find(self, object_name: str, object_id: int) -> Record | None:
        return self.table(object_name).get(object_id)

    def insert(self, object_name: str, fields: dict[str, Any], meta: dict[str, Any] | None = None) -> Record:
        object_id = self._next_id
        self._next_id += 1
        now = self.now()
        record = Record(object_id, object_name, self.id, now, now, fields, dict(meta or {}))
        self.table(object_name)[object_id] = record
        return record

    def now(self) -> str:
        """The clock's moment as sevDesk renders timestamps."""
        return berlin_iso(self.clock.now())

    def update(self, record: Record, changes: dict[str, Any]) -> None:
        """Change fields; every write moves ``update``, even one that changes no field."""
        record.fields.update(changes)
        record.updated = self.now()

    def delete(self, object_name: str, object_id: int) -> None:
        self.table(object_name).pop(object_id, None)

    def objects(self, object_name: str) -> list[dict[str, Any]]:
        """The stored objects of one type, rendered as the API renders them, oldest first.

        Raises KeyError for an unknown object name, so a typo in a test cannot pass as "none".
        """
        if object_name not in OBJECT_NAMES:
            raise KeyError(object_name)
        return [record.render() for record in self.table(object_name).values()]
