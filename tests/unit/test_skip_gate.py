"""The gate (which events a tenant syncs) and the skip reasons whose events can be sent later."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import get_args

import pytest

from sevsync.admin.models import SkipReason
from sevsync.cli import build_parser
from sevsync.outcome_words import REPLAYABLE_SKIPS
from sevsync.store.tenants import TenantRecord
from sevsync.sync.gate import skip_reason, tenant_skip_reason
from sevsync.sync.handlers import HANDLERS, same_kind
from sevsync.tenants.settings import TenantSettings

SYNCING = TenantRecord(
    tenant_id="acme",
    provider="sevdesk",
    status="connected",
    enabled=True,
    settings=TenantSettings(),
    token_encrypted="ciphertext",
    connected_at=None,
)
CUSTOMERS_OFF = replace(SYNCING, settings=TenantSettings(auto_sync_customers=False))
PRODUCTS_OFF = replace(SYNCING, settings=TenantSettings(auto_sync_products=False))


@pytest.mark.parametrize(
    ("tenant", "event_type", "reason"),
    [
        (None, "customer.created", "not_connected"),
        (replace(SYNCING, provider="lexware"), "product.created", "not_connected"),
        (replace(SYNCING, status="disconnected", token_encrypted=None), "deal.won", "not_connected"),
        (replace(SYNCING, token_encrypted=None), "deal.won", "not_connected"),
        (replace(SYNCING, enabled=False), "payment.received", "disabled"),
        (CUSTOMERS_OFF, "customer.updated", "auto_sync_off"),
        (CUSTOMERS_OFF, "customer.deleted", None),  # has no auto-sync setting
        (CUSTOMERS_OFF, "product.updated", None),
        (PRODUCTS_OFF, "product.created", "auto_sync_off"),
        (SYNCING, "invoice.issued", None),
        # A refused token is no skip: such events are parked and resume on reconnect.
        (replace(SYNCING, status="auth_failed"), "customer.created", None),
    ],
)  # fmt: skip
def test_skip_reason(tenant: TenantRecord | None, event_type: str, reason: str | None) -> None:
    assert skip_reason(tenant, HANDLERS[event_type]) == reason


def test_the_tenant_alone_decides_before_any_kind() -> None:
    disabled = replace(CUSTOMERS_OFF, enabled=False)
    assert tenant_skip_reason(disabled) == "disabled"
    assert skip_reason(disabled, HANDLERS["customer.created"]) == "disabled"
    assert tenant_skip_reason(CUSTOMERS_OFF) is None


def _cli_reasons(*command: str) -> tuple[str, ...]:
    """The choices of a command's --reason option."""
    parser = build_parser()
    for name in command:
        (subcommands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = subcommands.choices[name]
    (reason,) = [a for a in parser._actions if a.dest == "reason"]
    return tuple(reason.choices or ())


def test_every_gate_reason_keeps_its_body_and_every_interface_knows_them() -> None:
    assert set(REPLAYABLE_SKIPS) == {"not_connected", "disabled", "auto_sync_off"}
    for action in ("list", "replay"):
        assert _cli_reasons("skipped", action) == tuple(REPLAYABLE_SKIPS) == get_args(SkipReason)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("customer.updated", ("customer.created", "customer.updated")),
        ("customer.deleted", ("customer.deleted",)),
        ("product.created", ("product.created", "product.updated")),
        ("deal.opened", ("deal.opened", "deal.updated")),
        ("deal.won", ("deal.won",)),
        ("invoice.issued", ("invoice.issued",)),
        ("invoice.cancelled", ("invoice.cancelled",)),
        ("payment.received", ("payment.received",)),
    ],
)
def test_a_kept_skip_is_replaced_only_by_a_newer_version_of_its_kind(
    event_type: str, kind: tuple[str, ...]
) -> None:
    # Events stating the entity's whole data replace each other; an act (an issue, a cancellation, a
    # deal won) needs its own body sent, whatever came after it.
    assert same_kind(event_type) == kind
