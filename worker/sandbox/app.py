"""Wiring: the :class:`Sandbox` (accounts, faults, call log) and its aiohttp application.

The application serves the sevDesk API under ``/api/v1`` and the test-only control routes under
``/__sandbox__`` (see :mod:`sevsync.sandbox.control`). To add a resource family, write a module
with a ``routes`` table and list that table in ``RESOURCE_ROUTES``.
"""

from __future__ import annotations

import re
from email.utils import format_datetime

from aiohttp import web

from . import (
    addresses,
    attachments,
    banking,
    communication_ways,
    contacts,
    control,
    guidance,
    invoices,
    lookups,
    orders,
    parts,
    tags,
    ui,
    vouchers,
)
from .clock import Clock
from .faults import FaultInjector
from .middleware import authenticator, call_recorder, translate_errors
from .store import Account, CallRecord

RESOURCE_ROUTES: tuple[web.RouteTableDef, ...] = (
    lookups.routes,
    contacts.routes,
    addresses.routes,
    communication_ways.routes,
    parts.routes,
    guidance.routes,
    banking.routes,
    orders.routes,
    invoices.routes,
    vouchers.routes,
    attachments.routes,
    tags.routes,
)
BOOKKEEPING_VERSIONS = frozenset({"1.0", "2.0"})

# The call log is for counting in tests; a long-running sandbox must not grow without bound.
MAX_CALLS = 100_000


class Sandbox:
    """A sevDesk stand-in: accounts by API token, programmable faults, a log of API calls."""

    def __init__(self, clock: Clock | None = None) -> None:
        # Stamps every account's objects; tests set and move it (see sandbox.clock).
        self.clock = clock if clock is not None else Clock()
        self._accounts: dict[str, Account] = {}
        self.faults = FaultInjector()
        self.calls: list[CallRecord] = []

    # Tokens are secrets even here: never echo them in errors or reprs.
    def __repr__(self) -> str:
        counts = f"accounts={len(self._accounts)}, faults={len(self.faults.rules)}, calls={len(self.calls)}"
        return f"Sandbox({counts})"

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def add_account(self, token: str, *, bookkeeping_version: str = "2.0") -> Account:
        """Register a token; any non-empty string without surrounding whitespace is accepted."""
        if not token or token != token.strip():
            raise ValueError("token must be non-empty and have no surrounding whitespace")
        if token in self._accounts:
            raise ValueError("an account with this token exists already")
        if bookkeeping_version not in BOOKKEEPING_VERSIONS:
            raise ValueError(f"bookkeeping_version must be one of {sorted(BOOKKEEPING_VERSIONS)}")
        account = Account(bookkeeping_version=bookkeeping_version, clock=self.clock)
        self._accounts[token] = account
        return account

    def account(self, token: str) -> Account:
        """The account of ``token``; KeyError if unknown (the message leaves the token out)."""
        account = self.find_account(token)
        if account is None:
            raise KeyError("no sandbox account for this token")
        return account

    def find_account(self, token: str) -> Account | None:
        return self._accounts.get(token)

    def remove_account(self, token: str) -> None:
        """Forget the account; later requests with its token get 401."""
        if self._accounts.pop(token, None) is None:
            raise KeyError("no sandbox account for this token")

    def record_call(self, call: CallRecord) -> None:
        self.calls.append(call)
        if len(self.calls) > MAX_CALLS:
            del self.calls[: MAX_CALLS // 10]

    def count_calls(
        self, method: str | None = None, path: str | None = None, *, account: Account | None = None
    ) -> int:
        """How many logged calls match ``method`` and the ``path`` regex (searched, as in faults)."""
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for call in self.calls
            if (method is None or call.method == method.upper())
            and (pattern is None or pattern.search(call.path))
            and (account is None or call.account_id == account.id)
        )

    def reset(self) -> None:
        """Clear faults, the call log and all accounts' objects; the accounts stay registered and the
        clock keeps its time (a test that set it decides when it runs again)."""
        self.faults.clear()
        self.calls.clear()
        for account in self._accounts.values():
            account.reset()

    async def _stamp_date(self, request: web.Request, response: web.StreamResponse) -> None:
        # sevDesk's `Date` header and its objects' stamps come from one clock: here, the sandbox's.
        response.headers["Date"] = format_datetime(self.clock.now(), usegmt=True)

    def app(self) -> web.Application:
        """A new aiohttp application serving this sandbox's state (API plus control routes)."""
        app = web.Application(
            middlewares=[
                call_recorder(self.record_call),
                authenticator(self.find_account),
                self.faults.middleware(),
                translate_errors,
            ],
            # Uploaded documents may be larger than aiohttp's default of 1 MiB.
            client_max_size=attachments.MAX_REQUEST_BYTES,
        )
        app[control.SANDBOX_KEY] = self
        app.on_response_prepare.append(self._stamp_date)
        for routes in RESOURCE_ROUTES:
            app.add_routes(routes)
        app.add_routes(control.routes)
        app.add_routes(ui.routes)
        return app
