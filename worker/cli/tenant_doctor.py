"""`sevsync tenant doctor`, and the checks `tenant settings` runs after storing a change.

The doctor prints one line per check (`PASS|WARN|FAIL <check>: <what to change where>`) or, with
`--json`, a list of `{check, status, detail}`; it exits 1 when any line is FAIL. After `tenant
settings` stored a change, the checks the changed settings concern (`doctor_checks.SETTING_CHECKS`)
run and print their lines on stderr (stdout stays the settings JSON); they never undo the store and
never change its exit status: `tenant doctor` is the command whose exit status judges the account.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..config import Settings
from .arguments import Commands, tenant_id
from .resources import cipher, pool

if TYPE_CHECKING:
    from ..sevdesk.client import SevdeskClient
    from ..store.tenants import TenantRecord

# The doctor answers in seconds: one quick retry, as `tenant connect` does, not the worker's patience.
DOCTOR_ATTEMPTS = 2
DOCTOR_BUDGET_SECONDS = 5.0


def add_doctor_command(tenant_cmds: Commands) -> None:
    doctor = tenant_cmds.add_parser(
        "doctor",
        help="check the tenant's sevDesk account against its settings (read-only); exit 1 on any FAIL",
        description="Read-only checks of the connected sevDesk account against the tenant's settings: "
        "one line per check, PASS, WARN or FAIL with what to change where. Exit status 1 when any "
        "check FAILs, else 0.",
    )
    doctor.add_argument("tenant", help="the tenant id")
    doctor.add_argument("--json", action="store_true", help="print a JSON list of {check, status, detail}")
    doctor.set_defaults(run=_cmd_tenant_doctor)


def _doctor_client(settings: Settings) -> SevdeskClient:
    from ..sevdesk.client import RetryPolicy
    from ..sevdesk.factory import client_from_settings

    return client_from_settings(
        settings, retry=RetryPolicy(attempts=DOCTOR_ATTEMPTS, budget_seconds=DOCTOR_BUDGET_SECONDS)
    )


async def _cmd_tenant_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from ..tenants.doctor import run_doctor
    from ..tenants.doctor_checks import has_failure

    tenant = tenant_id(args.tenant)
    token_cipher = cipher(settings)
    async with pool(settings) as db, _doctor_client(settings) as client:
        lines = await run_doctor(db, client, token_cipher, tenant)
    if args.json:
        print(json.dumps([line.as_json() for line in lines], indent=2, ensure_ascii=False))
    else:
        print("\n".join(line.text() for line in lines))
    return 1 if has_failure(lines) else 0


async def check_changed_settings(settings: Settings, record: TenantRecord, changed: Iterable[str]) -> None:
    """Run the checks the changed settings concern and print their lines on stderr.

    The settings are stored already, so nothing here may fail the command: a tenant that is not
    connected, missing keys or an unreachable sevDesk become a line, never an error.
    """
    from ..tenants.doctor import check_changes
    from ..tenants.doctor_checks import checks_for, has_failure

    if not checks_for(changed):
        return  # no sevDesk client, no keys needed for a change no check concerns
    try:
        async with _doctor_client(settings) as client:
            lines = await check_changes(record, client, cipher(settings), changed)
    except Exception as exc:  # the store stands; a check that cannot run is only a warning
        from .errors import describe_failure

        reason = describe_failure(exc, settings)
        print(f"WARN connection: stored, but the checks could not run: {reason}", file=sys.stderr)
        return
    for line in lines:
        print(line.text(), file=sys.stderr)
    if has_failure(lines):
        print(
            f"the settings are stored; fix what FAILs, then "
            f"`sevsync tenant doctor {record.tenant_id}` checks again",
            file=sys.stderr,
        )
