"""The sevDesk HTTP client against the sandbox over real HTTP (and a scripted server for odd answers).

Each test pins one rule of how the client must treat sevDesk: the raw token header, the envelope,
which failures are retried (reads, 429, connections never made) and which must never be (writes
whose answer was lost), how Retry-After and the retry budget bound the waiting, how sevDesk's
errors are classified, and that the token never shows up in an exception or a log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from sevsync.sandbox import Account, SandboxServer
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import CallCounter, RetryPolicy, SevdeskClient, current_call_counter
from sevsync.sevdesk.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    SevdeskError,
    TransientError,
    UncertainWriteError,
    UnexpectedResponseError,
)
from sevsync.sevdesk.token import ApiToken
from tests.fake_time import FakeTime

# Distinctive, so that a leak is found by a plain substring search.
TOKEN = "sk-live-3c9e1f7a5b2d4e6f8a0b1c2d3e4f5a6b"
UNKNOWN_TOKEN = "sk-live-ffffeeeeddddccccbbbbaaaa99998888"
CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}
ORGANISATION = {"name": "Acme GmbH", "category": CUSTOMER_CATEGORY}

MakeClient = Callable[..., SevdeskClient]


# --- fixtures and helpers -----------------------------------------------------------------------------


@pytest.fixture
def account(sandbox: SandboxServer) -> Account:
    return sandbox.sandbox.add_account(TOKEN)


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Clients with a chosen timeout and retry policy; all closed after the test."""
    clients: list[SevdeskClient] = []

    def make(
        base_url: str,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        budget: float = 10.0,
        time: FakeTime | None = None,
    ) -> SevdeskClient:
        retry = RetryPolicy(attempts=attempts, budget_seconds=budget)
        if time is None:
            client = SevdeskClient(base_url, timeout=timeout, retry=retry)
        else:
            # The waits between retries and the budget run on its clock, not the wall's.
            client = SevdeskClient(base_url, timeout=timeout, retry=retry, clock=time.clock, sleep=time.sleep)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def client(sandbox: SandboxServer, account: Account, make_client: MakeClient) -> SevdeskClient:
    return make_client(sandbox.base_url)


@pytest.fixture
def api(client: SevdeskClient) -> SevdeskApi:
    return SevdeskApi(client, ApiToken(TOKEN))


@contextmanager
def counting() -> Iterator[CallCounter]:
    """Install a CallCounter for the requests made inside the block (as the processor does per event)."""
    counter = CallCounter()
    reset = current_call_counter.set(counter)
    try:
        yield counter
    finally:
        current_call_counter.reset(reset)


def closed_port() -> int:
    """A local port nobody listens on (bound once to get a free number, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Reply = Callable[[], web.StreamResponse]


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return lambda: web.json_response(body, status=status, headers=headers)


def text_reply(text: str, status: int, content_type: str = "text/html") -> Reply:
    return lambda: web.Response(text=text, status=status, content_type=content_type)


HTML_502 = text_reply("<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>", 502)
EMPTY_LIST = json_reply({"objects": []})


@dataclass
class ScriptedServer:
    """Answers the n-th request with the n-th reply (the last one repeats) and records every request."""

    replies: tuple[Reply, ...]
    received: list[Received] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(
            Received(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        return self.replies[min(len(self.received), len(self.replies)) - 1]()


@asynccontextmanager
async def scripted_server(*replies: Reply) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(replies)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        server.base_url = f"http://127.0.0.1:{port}/api/v1"
        yield server
    finally:
        await runner.cleanup()


def fault_hits(sandbox: SandboxServer) -> int:
    """How many requests the (single, unlimited) fault rule has caught so far."""
    [rule] = sandbox.sandbox.faults.rules
    return rule.hits


# --- the wire -----------------------------------------------------------------------------------------


async def test_sends_the_raw_token_in_the_authorization_header(make_client: MakeClient) -> None:
    async with scripted_server(EMPTY_LIST, json_reply({"objects": {"id": "7"}}, 201)) as server:
        client = make_client(server.base_url)
        assert await client.request(ApiToken(TOKEN), "GET", "/Contact", params={"limit": 5}) == []
        created = await client.request(ApiToken(TOKEN), "POST", "/Contact", json_body={"name": "Acme"})

    assert created == {"id": "7"}
    get, post = server.received
    for seen in (get, post):
        assert seen.headers["Authorization"] == TOKEN  # the bare token: no "Bearer", no "Token"
        assert "application/json" in seen.headers["Accept"]
        assert TOKEN not in seen.path
        assert TOKEN not in json.dumps(seen.query)
    assert (get.method, get.path, get.query) == ("GET", "/api/v1/Contact", {"limit": "5"})
    assert (post.method, post.path) == ("POST", "/api/v1/Contact")
    assert post.headers["Content-Type"].startswith("application/json")
    assert json.loads(post.body) == {"name": "Acme"}


async def test_the_sandbox_accepts_the_client_and_answers_objects(client: SevdeskClient) -> None:
    objects = await client.request(ApiToken(TOKEN), "GET", "/SevUser")
    assert isinstance(objects, list)
    assert [user["objectName"] for user in objects] == ["SevUser"]


async def test_get_contact_unwraps_sevdesks_one_element_list(client: SevdeskClient, api: SevdeskApi) -> None:
    created = await api.create_contact({**ORGANISATION, "customerNumber": "K-1"})

    raw = await client.request(ApiToken(TOKEN), "GET", f"/Contact/{created['id']}")
    assert isinstance(raw, list)
    assert len(raw) == 1

    contact = await api.get_contact(str(created["id"]))
    assert isinstance(contact, dict)
    assert (contact["id"], contact["name"], contact["customerNumber"]) == (created["id"], "Acme GmbH", "K-1")


async def test_get_contact_refuses_a_list_of_several(make_client: MakeClient) -> None:
    async with scripted_server(json_reply({"objects": [{"id": "1"}, {"id": "2"}]})) as server:
        api = SevdeskApi(make_client(server.base_url), ApiToken(TOKEN))
        with pytest.raises(PermanentError, match="expected one object"):
            await api.get_contact("1")


# --- retries ------------------------------------------------------------------------------------------


async def test_429_on_a_read_waits_retry_after_then_succeeds(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=429, retry_after=0.3, method="GET", path="^/SevUser$")
    time = FakeTime()
    api = SevdeskApi(make_client(sandbox.base_url, time=time), ApiToken(TOKEN))

    with counting() as counter:
        users = await api.sev_users()

    assert len(users) == 1
    assert counter.calls == 2
    calls = [c for c in sandbox.sandbox.calls if c.path == "/SevUser"]
    assert [c.status for c in calls] == [429, 200]
    assert time.sleeps == [0.3]  # Retry-After honoured


async def test_429_on_a_write_is_retried_because_sevdesk_rejected_it_unprocessed(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    # A short Retry-After is used as is, not stretched to the exponential back-off (>= 0.5 s).
    sandbox.sandbox.faults.add(kind="status", status=429, retry_after=0.05, method="POST", path="^/Contact$")
    time = FakeTime()
    api = SevdeskApi(make_client(sandbox.base_url, time=time), ApiToken(TOKEN))

    created = await api.create_contact(ORGANISATION)

    posts = [c for c in sandbox.sandbox.calls if c.method == "POST"]
    assert [c.status for c in posts] == [429, 201]
    assert [c["id"] for c in account.objects("Contact")] == [created["id"]]
    assert time.sleeps == [0.05]


async def test_503_on_a_read_is_retried_then_succeeds(sandbox: SandboxServer, api: SevdeskApi) -> None:
    sandbox.sandbox.faults.add(kind="status", status=503, method="GET", path="^/SevUser$")

    assert len(await api.sev_users()) == 1

    assert [c.status for c in sandbox.sandbox.calls if c.path == "/SevUser"] == [503, 200]


async def test_a_failing_read_stops_after_the_configured_attempts(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=503, retry_after=0.01, method="GET", times=None)
    api = SevdeskApi(make_client(sandbox.base_url, attempts=3), ApiToken(TOKEN))

    with pytest.raises(TransientError) as caught:
        await api.sev_users()

    assert caught.value.status == 503
    assert sandbox.sandbox.count_calls("GET") == 3


async def test_500_on_a_post_is_uncertain_and_sent_exactly_once(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=500, method="POST", times=None)

    with pytest.raises(UncertainWriteError) as caught:
        await api.create_contact(ORGANISATION)

    assert caught.value.status == 500
    assert sandbox.sandbox.count_calls("POST") == 1


async def test_error_after_applying_a_post_is_uncertain_and_the_object_exists(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="applied_then_error", status=502, method="POST", times=None)

    with pytest.raises(UncertainWriteError):
        await api.create_contact(ORGANISATION)

    assert sandbox.sandbox.count_calls("POST") == 1
    assert [c["name"] for c in account.objects("Contact")] == ["Acme GmbH"]


async def test_lost_answer_to_a_post_is_uncertain_and_the_object_exists(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="lost_answer", method="POST", path="^/Contact$", times=None)

    with counting() as counter, pytest.raises(UncertainWriteError):
        await api.create_contact({**ORGANISATION, "customerNumber": "K-42"})

    assert counter.calls == 1
    assert sandbox.sandbox.count_calls("POST") == 1
    [contact] = account.objects("Contact")
    assert (contact["name"], contact["customerNumber"]) == ("Acme GmbH", "K-42")


async def test_lost_answer_to_a_put_is_uncertain_and_not_repeated_by_the_client(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    created = await api.create_contact(ORGANISATION)
    # times=None: aiohttp itself re-sends an idempotent request once after a disconnect.
    sandbox.sandbox.faults.add(kind="lost_answer", method="PUT", times=None)

    with counting() as counter, pytest.raises(UncertainWriteError):
        await api.update_contact(str(created["id"]), {"name": "Acme AG"})

    assert counter.calls == 1  # our client sent it once (aiohttp's own resend aside)
    assert account.objects("Contact")[0]["name"] == "Acme AG"


async def test_lost_answer_to_a_read_is_transient_and_retried(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    sandbox.sandbox.faults.add(kind="lost_answer", method="GET", times=None)
    api = SevdeskApi(make_client(sandbox.base_url, attempts=2), ApiToken(TOKEN))

    with counting() as counter, pytest.raises(TransientError) as caught:
        await api.sev_users()

    assert not isinstance(caught.value, UncertainWriteError)
    assert counter.calls == 2


async def test_timeout_on_a_read_is_transient_after_the_attempts(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    sandbox.sandbox.faults.add(kind="timeout", seconds=5, method="GET", times=None)
    api = SevdeskApi(make_client(sandbox.base_url, timeout=0.3, attempts=2), ApiToken(TOKEN))

    with counting() as counter, pytest.raises(TransientError) as caught:
        await api.sev_users()

    # The client gave up on its own timeout: waiting for the server would have ended in its 504.
    assert "did not answer in time" in str(caught.value)
    assert caught.value.status is None
    assert counter.calls == 2
    assert fault_hits(sandbox) == 2


async def test_timeout_on_a_post_is_uncertain_and_not_retried(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    sandbox.sandbox.faults.add(kind="timeout", seconds=5, method="POST", times=None)
    api = SevdeskApi(make_client(sandbox.base_url, timeout=0.3, attempts=3), ApiToken(TOKEN))

    with counting() as counter, pytest.raises(UncertainWriteError):
        await api.create_contact(ORGANISATION)

    assert counter.calls == 1
    assert fault_hits(sandbox) == 1


@pytest.mark.parametrize(
    ("status", "method", "path"),
    [(429, "GET", "/SevUser"), (429, "POST", "/Contact"), (503, "GET", "/SevUser")],
)
async def test_retry_after_beyond_the_budget_stops_at_once(
    sandbox: SandboxServer, account: Account, make_client: MakeClient, status: int, method: str, path: str
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=status, retry_after=60, method=method, times=None)
    time = FakeTime()
    client = make_client(sandbox.base_url, attempts=4, budget=20, time=time)

    with pytest.raises(TransientError) as caught:
        await client.request(
            ApiToken(TOKEN), method, path, json_body=ORGANISATION if method == "POST" else None
        )

    assert type(caught.value) is TransientError
    assert caught.value.retry_after == 60
    assert caught.value.status == status
    assert sandbox.sandbox.count_calls(method) == 1
    assert time.sleeps == []  # the broker's retry ladder waits, not this call


async def test_retry_after_is_weighed_against_the_remaining_budget(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    # Each wait (0.4 s) fits the 1 s budget on its own; the third would not fit what is left.
    sandbox.sandbox.faults.add(kind="status", status=503, retry_after=0.4, method="GET", times=None)
    time = FakeTime()
    api = SevdeskApi(make_client(sandbox.base_url, attempts=10, budget=1.0, time=time), ApiToken(TOKEN))

    with pytest.raises(TransientError):
        await api.sev_users()

    assert time.sleeps == [0.4, 0.4]
    assert sandbox.sandbox.count_calls("GET") == 3


async def test_retry_after_as_http_date_in_the_future_is_parsed(make_client: MakeClient) -> None:
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    limited = json_reply(
        {"error": {"code": None, "message": "Too many requests"}}, 429, {"Retry-After": later}
    )
    time = FakeTime()
    async with scripted_server(limited) as server:
        client = make_client(server.base_url, attempts=4, budget=20, time=time)
        with pytest.raises(TransientError) as caught:
            await client.request(ApiToken(TOKEN), "GET", "/Contact")

    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 121
    assert len(server.received) == 1
    assert time.sleeps == []


async def test_retry_after_as_http_date_in_the_past_retries_at_once(make_client: MakeClient) -> None:
    earlier = email.utils.format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    limited = json_reply({"error": {"message": "Too many requests"}}, 429, {"Retry-After": earlier})
    time = FakeTime()
    async with scripted_server(limited, EMPTY_LIST) as server:
        client = make_client(server.base_url, time=time)
        assert await client.request(ApiToken(TOKEN), "GET", "/Contact") == []

    assert len(server.received) == 2
    assert time.sleeps == [0.0]  # no back-off: sevDesk said "now"


async def test_html_502_page_on_a_read_is_retried(make_client: MakeClient) -> None:
    async with scripted_server(HTML_502, EMPTY_LIST) as server:
        client = make_client(server.base_url)
        assert await client.request(ApiToken(TOKEN), "GET", "/Contact") == []
    assert len(server.received) == 2


async def test_html_502_page_on_a_post_is_uncertain_and_sent_once(make_client: MakeClient) -> None:
    async with scripted_server(HTML_502) as server:
        client = make_client(server.base_url)
        with pytest.raises(UncertainWriteError) as caught:
            await client.request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)
    assert caught.value.status == 502
    assert len(server.received) == 1


async def test_200_without_objects_on_a_read_is_an_unexpected_response(make_client: MakeClient) -> None:
    async with scripted_server(json_reply({"data": []})) as server:
        client = make_client(server.base_url, attempts=2)
        with pytest.raises(UnexpectedResponseError):
            await client.request(ApiToken(TOKEN), "GET", "/Contact")
    assert len(server.received) == 2  # retried like any transient read failure, then given up


async def test_200_without_objects_on_a_post_is_uncertain_and_sent_once(make_client: MakeClient) -> None:
    async with scripted_server(text_reply("OK", 200, "text/plain")) as server:
        client = make_client(server.base_url)
        with pytest.raises(UncertainWriteError):
            await client.request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)
    assert len(server.received) == 1


async def test_connection_refused_is_transient_even_for_a_post(make_client: MakeClient) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}/api/v1", attempts=2)

    with counting() as counter, pytest.raises(TransientError) as caught:
        await client.request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)

    assert not isinstance(caught.value, UncertainWriteError)
    assert caught.value.status is None
    assert counter.calls == 2  # nothing was sent, so the write was safely tried again


class _HangingResolver(AbstractResolver):
    """Name resolution that never finishes: the connection is never made, nothing is ever sent."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        await asyncio.sleep(30)
        return []

    async def close(self) -> None:
        return None


async def test_connect_timeout_is_transient_even_for_a_post() -> None:
    timeout = aiohttp.ClientTimeout(total=2.0, connect=0.2)
    connector = aiohttp.TCPConnector(resolver=_HangingResolver())
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = SevdeskClient(
            "http://sevdesk.invalid/api/v1", session=session, retry=RetryPolicy(attempts=2, budget_seconds=5)
        )
        with counting() as counter, pytest.raises(TransientError) as caught:
            await client.request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)

    assert not isinstance(caught.value, UncertainWriteError)
    assert counter.calls == 2


# --- error classification -------------------------------------------------------------------------------


async def test_unknown_token_is_an_auth_error_and_not_retried(
    sandbox: SandboxServer, account: Account, client: SevdeskClient
) -> None:
    for method in ("GET", "POST"):
        with pytest.raises(AuthError) as caught:
            await client.request(ApiToken(UNKNOWN_TOKEN), method, "/Contact", json_body=ORGANISATION)
        assert caught.value.status == 401
    assert sandbox.sandbox.count_calls() == 2
    assert account.objects("Contact") == []


async def test_403_is_an_auth_error(sandbox: SandboxServer, api: SevdeskApi) -> None:
    sandbox.sandbox.faults.add(kind="status", status=403, method="GET")
    with pytest.raises(AuthError) as caught:
        await api.sev_users()
    assert caught.value.status == 403


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_error_inside_http_200_is_a_permanent_error(
    sandbox: SandboxServer, account: Account, client: SevdeskClient, method: str
) -> None:
    message = "Kontakt kann nicht gespeichert werden"
    sandbox.sandbox.faults.add(kind="error_in_200", code=390, message=message, method=method, times=None)

    with pytest.raises(PermanentError) as caught:
        await client.request(ApiToken(TOKEN), method, "/Contact", json_body=ORGANISATION)

    error = caught.value
    assert type(error) is PermanentError
    assert (error.status, error.code, error.sevdesk_message) == (200, 390, message)
    assert "390" in str(error)
    assert message in str(error)
    assert sandbox.sandbox.count_calls(method) == 1
    assert account.objects("Contact") == []


async def test_422_is_a_permanent_error_with_sevdesks_message(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    with pytest.raises(PermanentError) as caught:
        await api.create_contact({"name": "No Category GmbH"})

    error = caught.value
    assert type(error) is PermanentError
    assert error.status == 422
    assert error.sevdesk_message == "Contact: missing required field(s): category"
    assert "missing required field(s): category" in str(error)
    assert sandbox.sandbox.count_calls("POST") == 1


async def test_other_4xx_carries_sevdesks_code_and_message(sandbox: SandboxServer, api: SevdeskApi) -> None:
    sandbox.sandbox.faults.add(kind="status", status=400, code=4711, message="Ungültige Daten", method="PUT")
    created = await api.create_contact(ORGANISATION)

    with pytest.raises(PermanentError) as caught:
        await api.update_contact(str(created["id"]), {"name": "x"})

    assert (caught.value.status, caught.value.code, caught.value.sevdesk_message) == (
        400,
        4711,
        "Ungültige Daten",
    )
    assert not isinstance(caught.value, NotFoundError)


async def test_404_is_not_found_with_code_151(sandbox: SandboxServer, api: SevdeskApi) -> None:
    with pytest.raises(NotFoundError) as caught:
        await api.get_contact("999999")

    error = caught.value
    assert isinstance(error, PermanentError)
    assert (error.status, error.code) == (404, 151)
    assert "999999" in (error.sevdesk_message or "")
    assert sandbox.sandbox.count_calls("GET") == 1


# --- call counting ------------------------------------------------------------------------------------


async def test_call_counter_counts_every_attempt_by_endpoint(sandbox: SandboxServer, api: SevdeskApi) -> None:
    created = await api.create_contact(ORGANISATION)  # outside any counter: not counted, no error
    sandbox.sandbox.faults.add(kind="status", status=503, retry_after=0.01, method="GET", times=2)

    with counting() as counter:
        await api.get_contact(str(created["id"]))
        await api.create_contact({**ORGANISATION, "name": "Beta GmbH"})

    assert counter.calls == 4
    assert counter.by_endpoint == {"GET /Contact/{id}": 3, "POST /Contact": 1}


async def test_call_counters_of_concurrent_events_stay_apart(api: SevdeskApi) -> None:
    async def one_event(reads: int) -> CallCounter:
        with counting() as counter:
            for _ in range(reads):
                await api.sev_users()
        return counter

    first, second = await asyncio.gather(one_event(1), one_event(3))

    assert (first.calls, second.calls) == (1, 3)


# --- lookups by business key ------------------------------------------------------------------------


async def test_find_contacts_by_number_rechecks_the_filter_sevdesk_may_ignore(
    make_client: MakeClient,
) -> None:
    everything = json_reply(
        {
            "objects": [
                {"id": "1", "objectName": "Contact", "customerNumber": "1000"},
                {"id": "2", "objectName": "Contact", "customerNumber": "10001"},
                {"id": "3", "objectName": "Contact", "customerNumber": None},
            ]
        }
    )
    async with scripted_server(everything) as server:
        api = SevdeskApi(make_client(server.base_url), ApiToken(TOKEN))
        assert await api.find_contacts_by_number("100") == []
        assert [c["id"] for c in await api.find_contacts_by_number("1000")] == ["1"]

    query = server.received[0].query
    assert query["customerNumber"] == "100"
    assert query["depth"] == "1"  # persons are only listed with depth=1


async def test_find_parts_by_number_rechecks_the_filter(make_client: MakeClient) -> None:
    parts = json_reply({"objects": [{"id": "5", "partNumber": "SKU-1"}, {"id": "6", "partNumber": "SKU-10"}]})
    async with scripted_server(parts) as server:
        api = SevdeskApi(make_client(server.base_url), ApiToken(TOKEN))
        assert await api.find_parts_by_number("SKU") == []
        assert [p["id"] for p in await api.find_parts_by_number("SKU-10")] == ["6"]


async def test_find_contacts_by_number_in_the_sandbox_includes_persons(api: SevdeskApi) -> None:
    person = await api.create_contact(
        {"surename": "Erika", "familyname": "Muster", "category": CUSTOMER_CATEGORY, "customerNumber": "P-7"}
    )
    await api.create_contact({**ORGANISATION, "customerNumber": "P-77"})

    assert [c["id"] for c in await api.find_contacts_by_number("P-7")] == [person["id"]]
    assert await api.find_contacts_by_number("P") == []


# --- the token stays secret -----------------------------------------------------------------------------


Scenario = Callable[[SandboxServer, MakeClient], Awaitable[None]]


async def _auth(sandbox: SandboxServer, make: MakeClient) -> None:
    await make(sandbox.base_url).request(ApiToken(UNKNOWN_TOKEN), "GET", "/Contact")


async def _rate_limited(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="status", status=429, retry_after=60, times=None)
    await make(sandbox.base_url).request(ApiToken(TOKEN), "GET", "/Contact")


async def _read_timeout(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="timeout", seconds=5, times=None)
    await make(sandbox.base_url, timeout=0.2, attempts=1).request(ApiToken(TOKEN), "GET", "/Contact")


async def _write_5xx(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="status", status=500, times=None)
    await make(sandbox.base_url).request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)


async def _write_lost(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="lost_answer", times=None)
    await make(sandbox.base_url).request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)


async def _write_timeout(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="timeout", seconds=5, times=None)
    await make(sandbox.base_url, timeout=0.2).request(
        ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION
    )


async def _refused(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="status", status=422, message="Ungültig", times=None)
    await make(sandbox.base_url).request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)


async def _error_in_200(sandbox: SandboxServer, make: MakeClient) -> None:
    sandbox.sandbox.faults.add(kind="error_in_200", code=390, times=None)
    await make(sandbox.base_url).request(ApiToken(TOKEN), "GET", "/Contact")


async def _not_found(sandbox: SandboxServer, make: MakeClient) -> None:
    await make(sandbox.base_url).request(ApiToken(TOKEN), "GET", "/Contact/999999")


async def _unreachable(sandbox: SandboxServer, make: MakeClient) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/v1"
    await make(url, attempts=1).request(ApiToken(TOKEN), "POST", "/Contact", json_body=ORGANISATION)


async def _not_json(sandbox: SandboxServer, make: MakeClient) -> None:
    async with scripted_server(text_reply("<html>maintenance</html>", 200)) as server:
        await make(server.base_url, attempts=1).request(ApiToken(TOKEN), "GET", "/Contact")


SCENARIOS: dict[str, tuple[Scenario, type[SevdeskError]]] = {
    "auth": (_auth, AuthError),
    "rate-limited": (_rate_limited, TransientError),
    "read-timeout": (_read_timeout, TransientError),
    "write-5xx": (_write_5xx, UncertainWriteError),
    "write-lost-answer": (_write_lost, UncertainWriteError),
    "write-timeout": (_write_timeout, UncertainWriteError),
    "refused-422": (_refused, PermanentError),
    "error-in-200": (_error_in_200, PermanentError),
    "not-found": (_not_found, NotFoundError),
    "unreachable": (_unreachable, TransientError),
    "not-json": (_not_json, UnexpectedResponseError),
}


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_token_appears_in_no_exception_and_no_log_line(
    name: str,
    sandbox: SandboxServer,
    account: Account,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scenario, expected = SCENARIOS[name]
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SevdeskError) as caught:
        await scenario(sandbox, make_client)

    error = caught.value
    assert isinstance(error, expected)
    texts = [
        str(error),
        repr(error),
        error.describe(),
        repr(vars(error)),
        "".join(traceback.format_exception(error)),
    ]
    texts += [f"{type(e).__name__}: {e!s} {e!r} {e.args!r}" for e in _exception_chain(error)]
    for secret in (TOKEN, UNKNOWN_TOKEN):
        for text in texts:
            assert secret not in text
        assert secret not in caplog.text
    if name not in ("unreachable", "read-timeout", "write-timeout", "write-lost-answer"):
        # Every answered request leaves a DEBUG line: the log check above is not vacuous.
        assert any(r.levelno == logging.DEBUG and r.name == "sevsync.sevdesk.client" for r in caplog.records)


def test_api_token_never_shows_its_value() -> None:
    token = ApiToken(f"  {TOKEN}\n")

    assert token.reveal() == TOKEN  # surrounding whitespace is trimmed
    logged = logging.LogRecord("sevsync", logging.INFO, __file__, 0, "token %s %r", (token, token), None)
    for shown in (
        repr(token),
        str(token),
        f"{token}",
        f"{token!r}",
        format(token),
        repr([token]),
        logged.getMessage(),
    ):
        assert TOKEN not in shown
        assert "*" in shown
    assert token == ApiToken(TOKEN)
    assert token != ApiToken(UNKNOWN_TOKEN)
    assert len({token, ApiToken(TOKEN)}) == 1


@pytest.mark.parametrize("value", ["", "   ", f"{TOKEN} x", f"{TOKEN}\x00", f"a\tb{TOKEN}"])
def test_api_token_refuses_malformed_values_without_echoing_them(value: str) -> None:
    with pytest.raises(ValueError, match="API token") as caught:
        ApiToken(value)
    assert TOKEN not in str(caught.value)


async def test_api_wrapper_and_client_reprs_hide_the_token(api: SevdeskApi, client: SevdeskClient) -> None:
    assert TOKEN not in repr(api)
    assert TOKEN not in repr(vars(api))
    assert TOKEN not in repr(client)


async def test_back_off_waits_count_against_the_budget(
    sandbox: SandboxServer, account: Account, make_client: MakeClient
) -> None:
    # 503s without Retry-After: exponential back-off (0.5 s, 1 s, 2 s, ...) must stop within the budget.
    sandbox.sandbox.faults.add(kind="status", status=503, method="GET", times=None)
    time = FakeTime()
    client = make_client(sandbox.base_url, attempts=10, budget=1.0, time=time)

    with pytest.raises(TransientError):
        await client.request(ApiToken(TOKEN), "GET", "/SevUser")

    # The first back-off (0.5 s plus up to 0.5 s jitter) fits; the second (from 1 s) would not.
    [waited] = time.sleeps
    assert 0.5 <= waited <= 1.0
    assert sandbox.sandbox.count_calls("GET") == 2


async def test_aiohttp_never_resends_a_write_by_itself() -> None:
    # aiohttp repeats a PUT/DELETE once after a dropped connection unless this private switch is off;
    # sevDesk's PUT .../bookAmount is not idempotent. Fails loudly if aiohttp renames the switch.
    async with aiohttp.ClientSession() as plain:
        assert vars(plain)["_retry_connection"] is True  # the switch exists, and is on by default
    async with SevdeskClient("http://127.0.0.1:9/api/v1") as client:
        assert vars(client._ensure_session())["_retry_connection"] is False


# --- document uploads -----------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj << /Type /Page >> endobj\n%%EOF\n"


async def test_upload_sends_the_file_as_multipart_and_answers_the_temp_files_name(
    account: Account, api: SevdeskApi
) -> None:
    name = await api.upload_temp_file("R-1.pdf", "application/pdf", PDF)
    again = await api.upload_temp_file("R-1.pdf", "application/pdf", PDF)

    assert name == again
    assert name.endswith(".pdf")
    [waiting] = account.temp_files.values()
    assert (waiting.filename, waiting.size, waiting.uploads) == (name, len(PDF), 2)


async def test_an_upload_answered_503_is_sent_again_since_it_only_makes_a_temp_file(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=503, method="POST", path="uploadTempFile", times=1)

    name = await api.upload_temp_file("R-1.pdf", "application/pdf", PDF)

    assert sandbox.sandbox.count_calls("POST", "uploadTempFile") == 2
    assert list(account.temp_files) == [name]


async def test_a_refused_upload_is_permanent_and_names_no_bytes(account: Account, api: SevdeskApi) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-distinctive-bytes"
    with pytest.raises(PermanentError) as caught:
        await api.upload_temp_file("R-1.pdf", "application/pdf", png)

    assert caught.value.status == 400
    assert "distinctive" not in str(caught.value)
    assert account.temp_files == {}


async def test_an_upload_answer_without_a_filename_is_refused() -> None:
    async with scripted_server(json_reply({"objects": {"mimeType": "application/pdf"}}, 201)) as server:
        async with SevdeskClient(server.base_url) as client:
            with pytest.raises(PermanentError, match="names no temp file"):
                await SevdeskApi(client, ApiToken(TOKEN)).upload_temp_file("R-1.pdf", "application/pdf", PDF)
        [request] = server.received
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="R-1.pdf"' in request.body
    assert PDF in request.body
