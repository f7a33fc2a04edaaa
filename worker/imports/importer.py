"""Running an import: page through sevDesk, skip what is known, publish the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from sevsync_events.envelope import ANY_ENVELOPE, Envelope
from sevsync_events.errors import format_validation_error
from sevsync_events.publisher import EventNotRouted, EventPublisher

from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import AuthError, SevdeskError
from ..sevdesk.objects import JsonObject
from ..store.db import Connection
from ..store.tenants import TenantRecord
from ..sync.contact_mapping import pick_existing_address
from ..sync.lookups import TenantLookups
from ..tenants.crypto import SecretKeyError, TokenCipher
from ..tenants.service import TenantError
from .details import ContactDetails
from .kinds import DEFAULT_PAGE_SIZE, IMPORT_VERSION, KIND_DETAILS, KINDS, MAX_PAGE_SIZE, ImportKind
from .mapping import customer_from_contact, id_of, product_from_part, ref_id, required_id
from .results import ImportFailed, ImportProgress, ImportSummary, InvalidData, InvalidRecord
from .runs import Run, connected_tenant, log_invalid, run_lock, start_or_resume

# --- entry points --------------------------------------------------------------------------------


async def run_import(
    pool: asyncpg.Pool,
    client: SevdeskClient,
    cipher: TokenCipher,
    amqp_url: str,
    out_exchange: str,
    tenant_id: str,
    kind: ImportKind,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Callable[[ImportProgress], None] | None = None,
    on_invalid: Callable[[InvalidRecord], None] | None = None,
) -> ImportSummary:
    """Import one kind of a tenant's sevDesk records; continue an interrupted run where it stopped.

    Raises `TenantError` (unknown or not connected tenant, undecryptable token), `ImportRunning`
    (another import of this tenant and kind runs), `ImportFailed` (sevDesk or the broker failed
    mid-run; progress is kept). Invalid records go to `on_invalid`, or to the log without one.
    """
    if kind not in KIND_DETAILS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}, got {page_size}")
    tenant = await connected_tenant(pool, tenant_id)
    try:
        token = cipher.decrypt(tenant.token_encrypted or "")
    except SecretKeyError as exc:
        raise TenantError(f"tenant {tenant_id}: {exc}") from None
    # One connection for the whole run: it holds the run's advisory lock.
    async with pool.acquire() as conn, run_lock(conn, tenant_id, kind):
        run = await start_or_resume(conn, tenant_id, kind)
        # mandatory: a message no queue takes must fail, not be confirmed and then marked imported.
        async with EventPublisher(
            amqp_url, out_exchange, mandatory=True, connection_name=f"sevsync import {tenant_id}"
        ) as publisher:
            importer = _Importer(
                conn=conn,
                api=SevdeskApi(client, token),
                publisher=publisher,
                tenant=tenant,
                kind=kind,
                page_size=page_size,
                run=run,
                progress=progress,
                on_invalid=on_invalid or log_invalid,
            )
            return await importer.run()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class _PageResult:
    imported: list[tuple[str, UUID]]  # (sevdesk id, event id) confirmed by the broker
    skipped: int
    invalid: int
    failure: BaseException | None  # the first publish that failed; the page is then redone


class _Importer:
    def __init__(
        self,
        *,
        conn: Connection,
        api: SevdeskApi,
        publisher: EventPublisher,
        tenant: TenantRecord,
        kind: ImportKind,
        page_size: int,
        run: Run,
        progress: Callable[[ImportProgress], None] | None,
        on_invalid: Callable[[InvalidRecord], None],
    ) -> None:
        self._conn = conn
        self._api = api
        self._publisher = publisher
        self._tenant = tenant
        self._kind = kind
        self._spec = KIND_DETAILS[kind]
        self._page_size = page_size
        self._run = run
        self._progress = progress
        self._on_invalid = on_invalid
        self._lookups = TenantLookups()  # this run's own: country ids differ between accounts
        self._details = ContactDetails(api)

    @property
    def _tenant_id(self) -> str:
        return self._tenant.tenant_id

    async def run(self) -> ImportSummary:
        run = self._run
        offset, first_offset = run.next_offset, run.next_offset
        imported, skipped, invalid = run.imported, run.skipped, run.invalid
        self._report(offset, first_offset, imported, skipped, invalid)
        # Offsets over a list sevDesk keeps in id order: records created during the run land at its
        # end and are still found. A record deleted before the cursor shifts the rest, so one may be
        # passed over; and one inserted before it would be too. The next run starts at 0 and finds
        # such records, as everything imported already is skipped.
        while True:
            try:
                page = await self._list(offset)
                if not page:
                    break
                result = await self._import_page(page)
            except SevdeskError as exc:
                raise self._stopped(offset, exc) from None
            complete = result.failure is None
            # A failed page keeps its offset and is redone; what it confirmed is recorded now and
            # skipped then without being counted twice, its other counts come with the redo.
            page_skipped = result.skipped if complete else 0
            page_invalid = result.invalid if complete else 0
            await self._commit_page(len(page) if complete else 0, result.imported, page_skipped, page_invalid)
            imported += len(result.imported)
            skipped += page_skipped
            invalid += page_invalid
            if result.failure is not None:
                raise self._stopped(offset, result.failure) from result.failure
            offset += len(page)
            self._report(offset, first_offset, imported, skipped, invalid)
        await self._conn.execute(
            """
            UPDATE sevsync.import_run SET finished_at = now(), updated_at = now(), total = next_offset
             WHERE tenant_id = $1 AND kind = $2
            """,
            self._tenant_id,
            self._kind,
        )
        return ImportSummary(
            tenant_id=self._tenant_id,
            kind=self._kind,
            listed=offset,
            imported=imported,
            skipped=skipped,
            invalid=invalid,
            resumed_from=first_offset if run.resumed else None,
        )

    async def _commit_page(
        self, listed: int, imported: Sequence[tuple[str, UUID]], skipped: int, invalid: int
    ) -> None:
        """Record a page's imports and progress at once.

        A crash before this commit redoes the whole page, so records published in between go out
        twice; the CRM absorbs that, as it de-duplicates by sevdesk_id.
        """
        async with self._conn.transaction():
            if imported:
                await self._conn.executemany(
                    """
                    INSERT INTO sevsync.imported_record (tenant_id, sevdesk_object, sevdesk_id, event_id)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (tenant_id, sevdesk_object, sevdesk_id)
                    DO UPDATE SET event_id = EXCLUDED.event_id, imported_at = now()
                    """,
                    [(self._tenant_id, self._spec.sevdesk_object, sid, eid) for sid, eid in imported],
                )
            await self._conn.execute(
                """
                UPDATE sevsync.import_run
                   SET next_offset = next_offset + $3, imported = imported + $4,
                       skipped = skipped + $5, invalid = invalid + $6, updated_at = now()
                 WHERE tenant_id = $1 AND kind = $2
                """,
                self._tenant_id,
                self._kind,
                listed,
                len(imported),
                skipped,
                invalid,
            )

    def _report(self, offset: int, first_offset: int, imported: int, skipped: int, invalid: int) -> None:
        if self._progress is None:
            return
        total = self._run.total
        self._progress(
            ImportProgress(
                tenant_id=self._tenant_id,
                kind=self._kind,
                offset=offset,
                first_offset=first_offset,
                imported=imported,
                skipped=skipped,
                invalid=invalid,
                # The estimate from the last run must not look smaller than what is listed already.
                total=max(total, offset) if total is not None else None,
            )
        )

    def _stopped(self, offset: int, cause: BaseException) -> ImportFailed:
        if isinstance(cause, AuthError):
            detail = (
                f"sevDesk refused the token (HTTP {cause.status}); "
                f"connect the tenant again with `sevsync tenant connect {self._tenant_id}`"
            )
        elif isinstance(cause, SevdeskError):
            detail = cause.describe()
        elif isinstance(cause, EventNotRouted):
            detail = f"{cause}: bind the CRM's queue to it first"
        else:
            detail = f"publishing failed ({type(cause).__name__}: {' '.join(str(cause).split())})"
        return ImportFailed(
            f"the import of {self._kind} for tenant {self._tenant_id} stopped at record {offset}: {detail}; "
            "run it again to continue there",
            tenant_id=self._tenant_id,
            kind=self._kind,
            offset=offset,
        )

    async def _list(self, offset: int) -> list[JsonObject]:
        if self._kind == "contacts":
            return await self._api.list_contacts(offset=offset, limit=self._page_size)
        return await self._api.list_parts(offset=offset, limit=self._page_size)

    async def _import_page(self, page: list[JsonObject]) -> _PageResult:
        invalid: list[InvalidRecord] = []
        candidates: list[JsonObject] = []
        for record in page:
            if self._kind == "contacts" and ref_id(record.get("parent")) is not None:
                continue  # a contact person: part of its organisation, not a customer of its own
            if id_of(record) is None:
                invalid.append(self._invalid(record, "the record has no id"))
                continue
            candidates.append(record)
        counted, uncounted = await self._known([required_id(r) for r in candidates])
        known = counted | uncounted
        fresh = [r for r in candidates if required_id(r) not in known]

        messages: list[tuple[str, Envelope[BaseModel]]] = []
        for record, data in zip(fresh, await self._map(fresh), strict=True):
            if isinstance(data, str):
                invalid.append(self._invalid(record, data))
                continue
            envelope: Envelope[BaseModel] = ANY_ENVELOPE.new(
                event_type=self._spec.event_type, tenant_id=self._tenant_id, version=IMPORT_VERSION, data=data
            )
            messages.append((required_id(record), envelope))
        for item in invalid:
            self._on_invalid(item)

        # One confirm round trip for the page: the publishes share the channel's confirms.
        outcomes = await asyncio.gather(
            *(self._publisher.publish(envelope) for _, envelope in messages), return_exceptions=True
        )
        confirmed = [
            (sid, envelope.event_id)
            for (sid, envelope), outcome in zip(messages, outcomes, strict=True)
            if outcome is None
        ]
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # cancellation and the like are not a publish failure
        return _PageResult(imported=confirmed, skipped=len(counted), invalid=len(invalid), failure=failure)

    async def _known(self, ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Ids linked or imported before this run (counted as skipped), and ids this run imported.

        The second kind exists when a page is redone after a failed publish; they were counted then.
        """
        if not ids:
            return set(), set()
        rows = await self._conn.fetch(
            """
            SELECT sevdesk_id, false AS this_run FROM sevsync.entity_link
             WHERE tenant_id = $1 AND entity_type = $2 AND sevdesk_object = $3
               AND sevdesk_id = ANY($4::text[])
            UNION ALL
            SELECT sevdesk_id, imported_at >= $5 FROM sevsync.imported_record
             WHERE tenant_id = $1 AND sevdesk_object = $3 AND sevdesk_id = ANY($4::text[])
            """,
            self._tenant_id,
            self._spec.entity_type,
            self._spec.sevdesk_object,
            list(ids),
            self._run.started_at,
        )
        counted = {row["sevdesk_id"] for row in rows if not row["this_run"]}
        uncounted = {row["sevdesk_id"] for row in rows if row["this_run"]} - counted
        return counted, uncounted

    async def _map(self, records: list[JsonObject]) -> list[BaseModel | str]:
        """Each record in the CRM's shape, or why it does not fit."""
        mapped: list[BaseModel | str] = []
        if self._kind == "parts":
            for record in records:
                try:
                    mapped.append(product_from_part(record, self._tenant.settings.units))
                except (ValidationError, InvalidData) as exc:
                    mapped.append(_reason(exc))
            return mapped
        details = await self._details.of(records)
        for record in records:
            addresses, ways = details[required_id(record)]
            address = pick_existing_address(addresses)
            country_code = None
            if address is not None and (country_id := ref_id(address.get("country"))) is not None:
                country_code = await self._lookups.country_code(self._api, country_id)
            try:
                mapped.append(customer_from_contact(record, address, country_code, ways))
            except (ValidationError, InvalidData) as exc:
                mapped.append(_reason(exc))
        return mapped

    def _invalid(self, record: JsonObject, reason: str) -> InvalidRecord:
        return InvalidRecord(
            tenant_id=self._tenant_id,
            kind=self._kind,
            sevdesk_object=self._spec.sevdesk_object,
            sevdesk_id=id_of(record) or "?",
            reason=reason,
        )


def _reason(exc: ValidationError | InvalidData) -> str:
    return format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
