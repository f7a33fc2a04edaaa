"""Fault injection for the sandbox API (tests and chaos runs only).

A :class:`FaultInjector` holds an ordered list of rules. For every authenticated request under
``/api/v1`` the first rule whose ``method``, ``path`` and ``token`` match and that has ``times``
left is consumed (one per request) and decides what happens on the wire:

``latency``            sleep ``seconds``, then handle the request normally.
``status``             do not apply; answer ``status`` with the sevDesk error body (``Retry-After``
                       header when ``retry_after`` is given, meant for 429/503).
``timeout``            do not apply; sleep ``seconds`` (make it longer than the client's timeout),
                       then answer 504 with an error body, if the client is still there.
``lost_answer``        apply the request, then close the connection without any answer (aiohttp
                       clients raise ``ServerDisconnectedError``). Note: aiohttp's client silently
                       retries idempotent methods (GET/PUT/DELETE) once after such a disconnect,
                       so a PUT needs ``times=2`` for the client to see the error.
``applied_then_error`` apply the request, then answer ``status`` (default 500) with an error body.
``error_in_200``       do not apply; answer HTTP 200 carrying an error body (``code``/``message``),
                       as sevDesk does for some refused operations.
``hold``               wait until :meth:`FaultInjector.release` is called (or ``seconds`` pass, as
                       a safety net), then handle the request normally, even when the client
                       has stopped waiting for the answer meanwhile. A test holds a client's
                       next request of one kind, acts (e.g. as a person in the sevDesk UI) and then
                       lets the request go on: an interleaving that needs no timing.

``path`` is a regular expression searched in the path after ``/api/v1`` (``^/Contact$``);
``None`` matches any path, as ``method=None`` matches any method. ``times=None`` never runs out.
``token`` scopes a rule to one account: it then matches only requests made with that API token
(the ``Authorization`` header the sandbox authenticates); ``None`` matches every account. A rule
shows only a short prefix of its token (:meth:`FaultRule.describe`), never the whole of it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import error_response
from .wire import api_path, api_token

LATENCY: Final = "latency"
STATUS: Final = "status"
TIMEOUT: Final = "timeout"
LOST_ANSWER: Final = "lost_answer"
APPLIED_THEN_ERROR: Final = "applied_then_error"
ERROR_IN_200: Final = "error_in_200"
# Applies the write, then waits before answering: a window in which a test can kill the client
# after sevDesk has the object but before the client could record it.
SLOW_ANSWER: Final = "slow_answer"
HOLD: Final = "hold"
KINDS: Final = frozenset(
    {LATENCY, STATUS, TIMEOUT, LOST_ANSWER, APPLIED_THEN_ERROR, ERROR_IN_200, SLOW_ANSWER, HOLD}
)
# How long a held request waits for its release at most, unless the rule names ``seconds``.
DEFAULT_HOLD_SECONDS = 30.0

FAULT_KEY: web.RequestKey[str] = web.RequestKey("sevsync_sandbox_fault", str)
# Characters of a scoped rule's token that describe() shows (at most half of the token).
TOKEN_PREFIX = 4


@dataclass(repr=False)
class FaultRule:
    kind: str
    method: str | None
    path: re.Pattern[str] | None
    times: int | None  # remaining matches; None = unlimited
    status: int
    seconds: float
    retry_after: float | None
    code: int | None
    message: str | None
    token: str | None = None  # the account's API token; None = every account
    hits: int = field(default=0)

    def matches(self, method: str, path: str, token: str | None = None) -> bool:
        """Whether a request made with ``token`` (its ``Authorization`` header) is this rule's."""
        if self.token is not None and self.token != token:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    @property
    def account(self) -> str | None:
        """The scoped account as a short token prefix (``ab12…``); None when the rule is for all."""
        if self.token is None:
            return None
        return self.token[: min(TOKEN_PREFIX, len(self.token) // 2)] + "…"

    def describe(self) -> dict[str, Any]:
        """A JSON-ready view (control API)."""
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.path.pattern if self.path is not None else None,
            "times": self.times,
            "status": self.status,
            "seconds": self.seconds,
            "retry_after": self.retry_after,
            "code": self.code,
            "message": self.message,
            "account": self.account,
            "hits": self.hits,
        }

    # Tokens are secrets even here: the dataclass repr would show the whole token.
    def __repr__(self) -> str:
        return f"FaultRule({self.describe()!r})"


def _format_seconds(value: float) -> str:
    # HTTP wants whole seconds; fractions are kept so tests can use sub-second back-offs.
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class FaultInjector:
    """Programmable faults; shared by in-process tests and the HTTP control API."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._sleepers: set[asyncio.Future[None]] = set()
        # Requests waiting in a ``hold`` rule, each released by resolving its future.
        self._held: set[asyncio.Future[None]] = set()

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules in match order (a copy of the list)."""
        return list(self._rules)

    def add(
        self,
        *,
        kind: str,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        status: int = 500,
        seconds: float = 0.0,
        retry_after: float | None = None,
        code: int | None = None,
        message: str | None = None,
        token: str | None = None,
    ) -> None:
        """Append a rule; raises ValueError for an unknown kind or impossible values.

        ``token`` limits the rule to the requests made with that account's API token.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for unlimited)")
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status}")
        if seconds < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("seconds and retry_after must not be negative")
        if token is not None and (not isinstance(token, str) or not token or token != token.strip()):
            # The message leaves the value out: it may be a token.
            raise ValueError("token must be a non-empty string without surrounding whitespace")
        try:
            pattern = re.compile(path) if path is not None else None
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from exc
        self._rules.append(
            FaultRule(
                kind=kind,
                method=method.upper() if method else None,
                path=pattern,
                times=times,
                status=status,
                seconds=seconds,
                retry_after=retry_after,
                code=code,
                message=message,
                token=token,
            )
        )

    def clear(self) -> None:
        self._rules.clear()

    @property
    def held(self) -> int:
        """How many requests wait in a ``hold`` rule right now."""
        return len(self._held)

    @property
    def sleeping(self) -> int:
        """How many requests sleep in a ``latency``, ``timeout`` or ``slow_answer`` rule right now."""
        return len(self._sleepers)

    def release(self) -> int:
        """Let every held request go on; answers how many there were."""
        released = 0
        for waiter in list(self._held):
            if not waiter.done():
                waiter.set_result(None)
                released += 1
        return released

    def take(self, method: str, path: str, token: str | None = None) -> FaultRule | None:
        """The first rule matching a request made with ``token``, with one use consumed.

        Exhausted rules are dropped.
        """
        for rule in self._rules:
            if rule.matches(method, path, token):
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return rule
        return None

    async def sleep(self, seconds: float) -> None:
        """Sleep that :meth:`interrupt` can cut short (server shutdown must not wait 30 s)."""
        waker: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.add(waker)
        try:
            await asyncio.wait([waker], timeout=seconds)
        finally:
            self._sleepers.discard(waker)

    def interrupt(self) -> None:
        """End all fault sleeps and holds now; their requests then continue as after a full sleep."""
        for waker in list(self._sleepers):
            if not waker.done():
                waker.set_result(None)
        self.release()

    async def _hold(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held.add(waiter)
        try:
            await asyncio.wait([waiter], timeout=seconds)
        finally:
            self._held.discard(waiter)

    def middleware(self) -> Middleware:
        """The aiohttp middleware applying these rules to API requests (wired after auth)."""

        @web.middleware
        async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            path = api_path(request)
            rule = self.take(request.method, path, api_token(request)) if path is not None else None
            if rule is None:
                return await handler(request)
            request[FAULT_KEY] = rule.kind
            return await self._respond(rule, request, handler)

        return inject_faults

    async def _respond(self, rule: FaultRule, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer ``request`` the way ``rule`` prescribes; ``handler`` applies the request."""
        if rule.kind == LATENCY:
            await self.sleep(rule.seconds)
            return await handler(request)
        if rule.kind == STATUS:
            return _error(rule, rule.status, f"Simulated HTTP {rule.status} (sandbox fault)")
        if rule.kind == TIMEOUT:
            await self.sleep(rule.seconds)
            return _error(rule, 504, "Gateway timeout (sandbox fault)")
        if rule.kind == LOST_ANSWER:
            await handler(request)
            return _drop_connection(request)
        if rule.kind == HOLD:
            # Received in full first, as sevDesk has it: a held write still lands after its client
            # gave up waiting (a timeout), the way a request stuck in sevDesk does.
            await request.read()
            await self._hold(rule.seconds or DEFAULT_HOLD_SECONDS)
            return await handler(request)
        if rule.kind == SLOW_ANSWER:
            response = await handler(request)
            await self.sleep(rule.seconds)
            return response
        if rule.kind == APPLIED_THEN_ERROR:
            await handler(request)
            return _error(rule, rule.status, f"Simulated HTTP {rule.status} after applying (sandbox fault)")
        # ERROR_IN_200: sevDesk reports some refusals as an error object inside a 200 answer.
        message = rule.message or "Simulated error inside HTTP 200 (sandbox fault)"
        return error_response(200, message, code=rule.code)


def _error(rule: FaultRule, status: int, default_message: str) -> web.Response:
    headers = {}
    if rule.retry_after is not None:
        headers["Retry-After"] = _format_seconds(rule.retry_after)
    return error_response(status, rule.message or default_message, code=rule.code, headers=headers)


def _drop_connection(request: web.Request) -> web.Response:
    """Close the connection after the handler ran; the returned response is never delivered.

    aiohttp then fails to write it, treats that as a client disconnect and logs nothing.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)
