"""The account check (`sevsync tenant doctor`, `GET /api/v1/tenants/{tenant}/doctor`, the console's
tenant page): reads what the checks need from the tenant's sevDesk account and lets
`doctor_checks` judge it.

Read-only, and few requests: the token test first (a refused token ends the run after one call),
then one list request per resource, all at once. A full run reads seven endpoints (more only where
a list outgrows a page). A failed read turns the checks that needed it into WARN (transient) or FAIL
lines with sevDesk's status, code and message; it never ends the run. Only without a passed token
test does a refused (401/403) list read end it as the connection's FAIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date

import asyncpg

from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import SevdeskClient
from ..sevdesk.errors import AuthError, SevdeskError, TransientError
from ..sevdesk.objects import JsonObject
from ..store.tenants import TenantRecord, TenantRepository
from . import doctor_checks as dc
from .crypto import SecretKeyError, TokenCipher
from .service import TenantNotFound

Reader = Callable[[SevdeskApi], Awaitable[list[JsonObject]]]

# The list behind each resource path the checks name (doctor_checks.RESOURCE_OF).
_READERS: Mapping[str, Reader] = {
    dc.SEV_USERS: SevdeskApi.sev_users,
    dc.UNITIES: SevdeskApi.list_unities,
    dc.CHECK_ACCOUNT_LIST: SevdeskApi.list_check_accounts,
    dc.REVENUE_GUIDANCE: SevdeskApi.revenue_guidance,
    dc.COST_CENTRES: SevdeskApi.list_cost_centres,
    dc.PAYMENT_METHOD_LIST: SevdeskApi.list_payment_methods,
}
# Endpoints a full run requests when every list fits one page: the token test and the lists.
FULL_RUN_CALLS = 1 + len(_READERS)


async def run_doctor(
    pool: asyncpg.Pool,
    client: SevdeskClient,
    cipher: TokenCipher,
    tenant_id: str,
    checks: Iterable[str] = dc.CHECKS,
) -> list[dc.CheckLine]:
    """The lines of the checks asked for; raises TenantNotFound for a tenant without a row."""
    record = await TenantRepository(pool).get(tenant_id)
    if record is None:
        raise TenantNotFound(f"tenant {tenant_id} is not known")
    return await check_tenant(record, client, cipher, checks)


async def check_tenant(
    record: TenantRecord,
    client: SevdeskClient,
    cipher: TokenCipher,
    checks: Iterable[str] = dc.CHECKS,
    today: date | None = None,
) -> list[dc.CheckLine]:
    """The checks of one tenant's account; a tenant sevsync cannot reach gives one connection line."""
    if not record.syncs_with_sevdesk:
        return [dc.not_connected(record.tenant_id, record.status, record.provider)]
    try:
        token = cipher.decrypt(record.token_encrypted or "")
    except SecretKeyError as exc:
        return [dc.connection_failed(record.tenant_id, f"the stored token cannot be decrypted: {exc}")]
    api = SevdeskApi(client, token)
    return await _check_account(api, record, tuple(checks), today or date.today())


async def check_changes(
    record: TenantRecord, client: SevdeskClient, cipher: TokenCipher, changed: Iterable[str]
) -> list[dc.CheckLine]:
    """The checks that the changed setting keys concern, after the change was stored.

    A tenant that is not connected gives one WARN line instead: its settings may be prepared before
    it connects, and `tenant doctor` checks them later.
    """
    checks = dc.checks_for(changed)
    if not checks:
        return []
    if not record.syncs_with_sevdesk:
        tenant, status = record.tenant_id, record.status
        unchecked = f"tenant {tenant} is not connected to sevDesk (status {status}): stored unchecked"
        return [dc.CheckLine(dc.CONNECTION, "WARN", unchecked)]
    return await check_tenant(record, client, cipher, checks)


async def _check_account(
    api: SevdeskApi, record: TenantRecord, checks: tuple[str, ...], today: date
) -> list[dc.CheckLine]:
    tenant_id = record.tenant_id
    paths = sorted({dc.RESOURCE_OF[check] for check in checks if check in dc.RESOURCE_OF})
    version = None
    if dc.VERSION in paths:
        paths.remove(dc.VERSION)
        try:
            version = await api.bookkeeping_system_version()
        except AuthError as exc:
            return [dc.connection_failed(tenant_id, f"sevDesk refused the token ({_error_text(exc)})")]
        except SevdeskError as exc:
            return [
                dc.connection_failed(tenant_id, f"sevDesk did not answer the token test ({_error_text(exc)})")
            ]
    reads = await asyncio.gather(*(_read(api, path) for path in paths))
    refused = next((read for read in reads if isinstance(read, AuthError)), None)
    if refused is not None and version is None:
        return [dc.connection_failed(tenant_id, f"sevDesk refused the token ({_error_text(refused)})")]
    # The token test passed: a list refused (401/403) fails only the checks that needed it.
    facts = dc.Facts(
        version,
        {
            path: read if isinstance(read, dc.Read) else dc.Read(failure=_error_text(read))
            for path, read in zip(paths, reads, strict=True)
        },
    )
    return dc.evaluate(tenant_id, record.settings, facts, checks, today)


async def _read(api: SevdeskApi, path: str) -> dc.Read | AuthError:
    """One list, or what went wrong; a refused token is handed back for the caller to end the run."""
    try:
        objects = await _READERS[path](api)
    except AuthError as exc:
        return exc
    except SevdeskError as exc:
        return dc.Read(failure=_error_text(exc), transient=isinstance(exc, TransientError))
    return dc.Read(tuple(objects))


def _error_text(exc: SevdeskError) -> str:
    """sevDesk's HTTP status, error code and message (never the token: errors do not hold it)."""
    parts = [f"HTTP {exc.status}"] if exc.status is not None else []
    if exc.code is not None:
        parts.append(f"sevDesk code {exc.code}")
    message = exc.sevdesk_message or exc.summary
    return ", ".join([*parts, message])
