"""The one HTTP client for sevDesk: token header, timeouts, bounded retries, error classification.

One aiohttp session serves every tenant; each call names the tenant's token. Short transient
failures are retried here (tenacity) within a bounded budget; anything longer is the retry ladder's
job. Writes are retried only where they provably did not happen: the connection was never made, or
sevDesk answered 429. A write answered 500 or 503 raises `AnsweredWriteError`: it has ended on
sevDesk's side but may have applied, so only an idempotent write (a field update, a delete) is sent
again here; the caller of any other write looks for its effect first. Every other lost answer to a
write (a timeout, a dropped connection, 502/504) raises `UncertainWriteError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from ..metrics import METRICS
from .errors import (
    AnsweredWriteError,
    AuthError,
    NotFoundError,
    PermanentError,
    TransientError,
    UncertainWriteError,
    UnexpectedResponseError,
)
from .server_clock import current_server_clock
from .token import ApiToken

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})
# sevDesk's "not found" error code (measured together with HTTP 404).
NOT_FOUND_CODE = 151
# What the client introduces itself as unless told otherwise (SEVSYNC_USER_AGENT sets the worker's).
DEFAULT_USER_AGENT = "sevsync"
TRANSIENT_READ_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Answers to a write that sevDesk itself gave: the request ended there. A gateway's 502/504 is not
# one of them (sevDesk behind it may still be processing the write).
ANSWERED_WRITE_STATUSES = frozenset({500, 503})
CONNECT_TIMEOUT_CAP_SECONDS = 10.0
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0


@dataclass
class CallCounter:
    """Counts sevDesk requests made on behalf of one event (the `api_calls` outcome column)."""

    calls: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def add(self, method: str, path: str) -> None:
        self.calls += 1
        key = f"{method} {path}"
        self.by_endpoint[key] = self.by_endpoint.get(key, 0) + 1


current_call_counter: contextvars.ContextVar[CallCounter | None] = contextvars.ContextVar(
    "sevsync_call_counter", default=None
)


@dataclass(frozen=True)
class FormFile:
    """A file sent as multipart/form-data; its bytes stay out of every repr and log line."""

    part: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    def form(self) -> aiohttp.FormData:
        # A fresh form per attempt: aiohttp sends a FormData only once.
        form = aiohttp.FormData()
        form.add_field(self.part, self.data, filename=self.filename, content_type=self.content_type)
        return form


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    budget_seconds: float = 20.0


class SevdeskClient:
    """Async sevDesk client; create one per process and close it at shutdown."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # A connect that hangs sent nothing, so it must end as its own (transient) timeout before
        # the total timeout could make a write look uncertain.
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, connect=min(timeout / 2, CONNECT_TIMEOUT_CAP_SECONDS)
        )
        self._retry_policy = retry or RetryPolicy()
        self._user_agent = user_agent
        self._session = session
        if session is not None:
            _never_resend(session)
        self._owns_session = session is None
        # The waits between retries and the budget they count against (a test controls both).
        self._clock = clock
        self._sleep = sleep

    @property
    def base_url(self) -> str:
        """The API root requests go to (never holds a token: sevDesk takes it in a header)."""
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The in-process retry budget, also for a caller that writes again after looking."""
        return self._retry_policy

    async def __aenter__(self) -> SevdeskClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Many tenants share the session; the connector limit bounds sockets, not tenants.
            connector = aiohttp.TCPConnector(limit=200, limit_per_host=200, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            _never_resend(self._session)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()

    async def request(
        self,
        token: ApiToken,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        upload: FormFile | None = None,
        pace: AsyncLimiter | None = None,
        idempotent: bool = False,
        envelope: bool = False,
    ) -> Any:
        """Send one request and return the `objects` member of sevDesk's answer.

        Retries transient failures within the policy's budget; raises a `SevdeskError` subclass.
        `pace`, when given, is taken once per attempt (a tenant's request rate). `idempotent` marks a
        write whose repetition has the same effect (a field update, a delete): it is also retried
        after sevDesk answered it 500 or 503. With `envelope`, the whole answer is returned (a list's
        `total` sits beside `objects`). `upload` sends a file as multipart/form-data instead of JSON.
        """
        method = method.upper()
        started = self._clock()

        async def attempt() -> Any:
            if pace is not None:
                await pace.acquire()
            body = upload.form() if upload is not None else None
            return await self._send_once(token, method, path, params, json_body, envelope, body)

        # Most calls succeed at once: tenacity, whose set-up costs more than a call's own Python,
        # is built only after a first attempt failed in a way worth retrying.
        try:
            return await attempt()
        except Exception as exc:
            if not _worth_retrying(exc, idempotent):
                raise
            first_failure = exc
        return await self._retry(first_failure, attempt, started, idempotent)

    async def _retry(
        self,
        first_failure: Exception,
        attempt: Callable[[], Awaitable[Any]],
        started: float,
        idempotent: bool,
    ) -> Any:
        """Go on from a failed first attempt as if tenacity had made it: same waits, stops, budget."""
        replayed = False

        async def replay_then_attempt() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_failure
            return await attempt()

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: _worth_retrying(exc, idempotent)),
            stop=stop_after_attempt(self._retry_policy.attempts)
            | _stop_when_budget_spent(self._retry_policy, self._clock, started),
            wait=_wait_retry_after_or_backoff,
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(replay_then_attempt)

    def _headers(self, token: ApiToken) -> dict[str, str]:
        return {"Authorization": token.reveal(), "Accept": "application/json", "User-Agent": self._user_agent}

    async def _send_once(
        self,
        token: ApiToken,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        envelope: bool,
        form: aiohttp.FormData | None = None,
    ) -> Any:
        session = self._ensure_session()
        endpoint = _endpoint_of(path)
        counter = current_call_counter.get()
        if counter is not None:
            counter.add(method, endpoint)
        is_read = method in READ_METHODS
        headers = self._headers(token)
        url = f"{self._base_url}/{path.lstrip('/')}"
        where: dict[str, Any] = {"method": method, "path": path}
        call_result = "connection_error"  # the metric label unless an answer or a timeout says otherwise
        try:
            async with session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=json_body,
                data=form,
                headers=headers,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                call_result = str(status)
                retry_after = _parse_retry_after(response.headers.get("Retry-After"))
                if (server_clock := current_server_clock.get()) is not None:
                    server_clock.note(response.headers.get("Date"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            # The TCP connection was never made: nothing was sent, so even a write is safe to retry.
            # (ConnectionTimeoutError is also a TimeoutError: it must be caught before the next branch.)
            call_result = "unreachable"
            raise TransientError("sevDesk is unreachable", **where) from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            call_result = "timeout"
            if is_read:
                raise TransientError("sevDesk did not answer in time", **where) from None
            raise UncertainWriteError("no answer in time after the write was sent", **where) from None
        except aiohttp.ClientError as exc:
            # Dropped connection, reset, payload error: the request may have reached sevDesk.
            if is_read:
                raise TransientError(f"connection failed ({type(exc).__name__})", **where) from None
            raise UncertainWriteError(
                f"connection lost after the write was sent ({type(exc).__name__})", **where
            ) from None
        finally:
            METRICS.after_sevdesk_call(f"{method} {endpoint}", call_result)

        log.debug("sevDesk %s %s -> %s", method, path, status)
        answer = _interpret(status, raw, retry_after, is_read, where)
        return answer if envelope else answer["objects"]


def _never_resend(session: aiohttp.ClientSession) -> None:
    """Stop aiohttp from silently sending a PUT or DELETE again after a dropped connection.

    HTTP calls those methods idempotent, so aiohttp repeats them once by itself; sevDesk's are not
    all idempotent (`PUT .../bookAmount` books again). A lost answer must reach the caller as an
    uncertain write instead. aiohttp has no public switch for this; its own test client sets the
    same attribute, and a unit test fails if a new aiohttp version drops it.
    """
    session._retry_connection = False


def _interpret(
    status: int, raw: bytes, retry_after: float | None, is_read: bool, where: dict[str, Any]
) -> Any:
    body = _decode_json(raw)
    error = body.get("error") if isinstance(body, dict) else None
    code, message = _error_fields(error)

    if status in (401, 403):
        raise AuthError(
            "the API token was refused", status=status, code=code, sevdesk_message=message, **where
        )
    if status == 429:
        # sevDesk rejects a rate-limited request before processing it, so a write is safe to repeat.
        raise TransientError(
            "rate limited",
            status=status,
            code=code,
            sevdesk_message=message,
            retry_after=retry_after,
            **where,
        )
    if status >= 500 or status in TRANSIENT_READ_STATUSES:
        summary = message or f"server error {status}"
        if is_read:
            raise TransientError(
                summary, status=status, code=code, sevdesk_message=message, retry_after=retry_after, **where
            )
        if status in ANSWERED_WRITE_STATUSES:
            raise AnsweredWriteError(
                summary, status=status, code=code, sevdesk_message=message, retry_after=retry_after, **where
            )
        raise UncertainWriteError(summary, status=status, code=code, sevdesk_message=message, **where)
    if status == 404 or code == NOT_FOUND_CODE:
        raise NotFoundError(
            message or "not found", status=status, code=code, sevdesk_message=message, **where
        )
    if status >= 400:
        raise PermanentError(
            message or f"request refused with HTTP {status}",
            status=status,
            code=code,
            sevdesk_message=message,
            **where,
        )
    if error is not None:
        # sevDesk sometimes reports a refusal inside an HTTP 200 (e.g. code 390).
        raise PermanentError(
            message or "sevDesk reported an error", status=status, code=code, sevdesk_message=message, **where
        )
    if not isinstance(body, dict) or "objects" not in body:
        if is_read:
            raise UnexpectedResponseError("the answer is not sevDesk's JSON envelope", status=status, **where)
        raise UncertainWriteError(
            "the answer to the write is not sevDesk's JSON envelope", status=status, **where
        )
    return body


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _error_fields(error: object) -> tuple[int | None, str | None]:
    if isinstance(error, dict):
        raw_code = error.get("code")
        code: int | None
        try:
            code = int(raw_code) if raw_code is not None else None
        except (TypeError, ValueError):
            code = None
        message = error.get("message")
        return code, str(message) if message is not None else None
    if isinstance(error, str):
        return None, error
    return None, None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _endpoint_of(path: str) -> str:
    """`/Contact/123` -> `/Contact/{id}`: keeps call statistics (and metric labels) bounded."""
    return "/" + "/".join("{id}" if seg.isdigit() else seg for seg in path.strip("/").split("/"))


_backoff = wait_exponential(multiplier=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS) + wait_random(
    0, BACKOFF_INITIAL_SECONDS
)


def _worth_retrying(exc: BaseException, idempotent: bool) -> bool:
    return isinstance(exc, TransientError) or (idempotent and isinstance(exc, AnsweredWriteError))


def _wait_retry_after_or_backoff(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, TransientError | AnsweredWriteError) and exc.retry_after is not None:
        return exc.retry_after
    return float(_backoff(state))


class _stop_when_budget_spent(stop_base):
    """Stop when the next wait would take the call past its budget (e.g. a long Retry-After)."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float], started: float) -> None:
        self._policy = policy
        self._clock = clock
        self._started = started

    def __call__(self, state: RetryCallState) -> bool:
        # The wait strategy ran first, so the coming pause (Retry-After or back-off) is known.
        elapsed = self._clock() - self._started
        return elapsed + state.upcoming_sleep > self._policy.budget_seconds
