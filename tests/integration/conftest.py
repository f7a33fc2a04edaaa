"""Fixtures of the sandbox tests: a fake sevDesk with one account (sandbox_account.TOKEN) and a
server in front of it. A module that needs something else defines a fixture of the same name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer

from .sandbox_account import TOKEN


@pytest.fixture
def sevdesk() -> Sandbox:
    """The fake sevDesk itself (named apart from the top conftest's `sandbox`, a running server)."""
    fake = Sandbox()
    fake.add_account(TOKEN)
    return fake


@pytest.fixture
def account(sevdesk: Sandbox) -> Account:
    return sevdesk.account(TOKEN)


@pytest.fixture
async def server(sevdesk: Sandbox) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(sevdesk) as running:
        yield running
