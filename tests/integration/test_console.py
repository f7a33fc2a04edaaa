"""The ops console over HTTP, against a real worker, broker, database and the sevDesk sandbox.

Login and session cookie, CSRF on every form, escaping of hostile text from sevDesk and events,
replay with the CLI's rules, one entity's history, and no console at all without an admin token.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from sevsync.admin.auth import SESSION_COOKIE, SESSION_SECONDS
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.store.dead_letters import DeadLetterRow, insert_dead_letter
from sevsync.store.links import LinkWrite, upsert_link

from ..samples import company, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_first_outcome, wait_for_outcomes

ADMIN_TOKEN = "console-test-token-0123456789abcdef"
HOSTILE = "<script>alert('sevDesk')</script> Kunde & \"gesperrt\""
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


@asynccontextmanager
async def console(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """A running worker and a client for its HTTP port that keeps cookies (also for 127.0.0.1)."""
    async with running_worker(settings) as worker:
        assert worker.http is not None
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{worker.http.port}", cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:
            yield session


async def log_in(session: aiohttp.ClientSession) -> None:
    async with session.post("/login", data={"token": ADMIN_TOKEN}, allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def page(session: aiohttp.ClientSession, path: str, status: int = 200) -> str:
    async with session.get(path, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, text
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, name
        return text


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


async def post(
    session: aiohttp.ClientSession, path: str, data: dict[str, Any] | list[tuple[str, str]]
) -> tuple[int, str, str | None]:
    async with session.post(path, data=data, allow_redirects=False) as response:
        return response.status, await response.text(), response.headers.get("Location")


async def failing_customer(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, customer_id: str = "cust-1001"
) -> dict[str, Any]:
    """A customer.created that sevDesk refuses with a 422 and its own (hostile) message."""
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=4711, message=HOSTILE, method="POST", path="^/Contact$", times=None
    )
    event = envelope("customer.created", company(customer_id))
    await publish(settings, event)
    [outcome] = await wait_for_outcomes(db, event)
    assert (outcome["status"], outcome["reason"]) == ("failed", "sevdesk_rejected")
    return event


async def open_dead_letters(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM sevsync.dead_letter WHERE replayed_at IS NULL"))


# --- authentication ---------------------------------------------------------------------------------


async def test_without_a_session_pages_redirect_to_login_and_forms_are_refused(
    db: asyncpg.Pool, console_settings: Settings
) -> None:
    async with console(console_settings) as session:
        for path in ("/", "/dead-letters", "/tenants/acme", "/entities/acme/customer/cust-1001"):
            async with session.get(path, allow_redirects=False) as response:
                assert response.status == 303, path
                assert response.headers["Location"] == "/login"
                assert response.headers["Cache-Control"] == "no-store"
        login_page = await page(session, "/login")
        assert 'name="token"' in login_page
        assert "csrf" not in login_page  # nothing to protect before logging in

        session.cookie_jar.update_cookies({SESSION_COOKIE: "9999999999.forged"})
        status, text, _ = await post(session, "/dead-letters/replay", {"csrf": "x", "all": "yes"})
        assert status == 401
        assert "Log in again" in text
        async with session.get("/", allow_redirects=False) as response:
            assert response.status == 303


async def test_wrong_token_is_refused_without_detail(db: asyncpg.Pool, console_settings: Settings) -> None:
    async with console(console_settings) as session:
        for wrong in ("", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", "<b>token</b>"):
            async with session.post("/login", data={"token": wrong}, allow_redirects=False) as response:
                text = await response.text()
                assert response.status == 401
                assert "Set-Cookie" not in response.headers
            assert "Wrong token." in text
            assert ADMIN_TOKEN not in text
        assert len(session.cookie_jar) == 0


async def test_login_sets_a_strict_http_only_cookie_without_the_token_and_logout_ends_it(
    db: asyncpg.Pool, console_settings: Settings
) -> None:
    async with console(console_settings) as session:
        async with session.post("/login", data={"token": ADMIN_TOKEN}, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/"
            [set_cookie] = response.headers.getall("Set-Cookie")
        cookie = SimpleCookie()
        cookie.load(set_cookie)
        morsel = cookie[SESSION_COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Strict"
        assert morsel["path"] == "/"
        assert morsel["max-age"] == str(SESSION_SECONDS)
        assert not morsel["secure"]  # plain HTTP here; Secure when the request came over TLS
        assert ADMIN_TOKEN not in set_cookie

        overview = await page(session, "/")
        assert "Tenants" in overview
        assert ADMIN_TOKEN not in overview
        async with session.get("/login", allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/")

        # Logging out needs the page's CSRF value too, then clears the cookie.
        status, _, _ = await post(session, "/logout", {"csrf": "wrong"})
        assert status == 403
        status, _, location = await post(session, "/logout", {"csrf": csrf_of(overview)})
        assert (status, location) == (303, "/login?logged_out=1")
        assert "Logged out." in await page(session, "/login?logged_out=1")
        async with session.get("/", allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/login")


async def test_without_an_admin_token_there_is_no_console(db: asyncpg.Pool, settings: Settings) -> None:
    assert settings.admin_token is None
    async with running_worker(settings) as worker, aiohttp.ClientSession() as session:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        for path in ("/", "/login", "/dead-letters"):
            async with session.get(base + path, allow_redirects=False) as response:
                assert response.status == 404, path
        async with session.post(base + "/login", data={"token": ADMIN_TOKEN}) as response:
            assert response.status == 404
        async with session.get(base + "/healthz") as response:
            assert response.status == 200


# --- pages ------------------------------------------------------------------------------------------


async def test_overview_lists_tenants_and_failures_with_sevdesks_error_escaped(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    await add_tenant(db, console_settings, sandbox, "other-tenant")
    hostile_id = "cust/<img src=x onerror=alert(1)>"
    async with console(console_settings) as session:
        await failing_customer(db, console_settings, sandbox, hostile_id)
        await log_in(session)
        overview = await page(session, "/")
        tenant = await page(session, "/tenants/acme")
        await page(session, "/tenants/nobody", status=404)
        entity = await page(
            session, "/entities/acme/customer/cust%2F%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
        )
        query = {"tenant": "acme", "entity_type": "customer", "entity_id": hostile_id}
        looked_up = await page(session, "/entities?" + urlencode(query))
        await page(session, "/entities/acme/wizard/x", status=404)
        await page(session, "/entities/acme/customer/never-seen", status=404)

    for html in (overview, tenant, entity, looked_up):
        assert "<script>" not in html
        assert "<img" not in html
        assert "&lt;script&gt;alert(&#39;sevDesk&#39;)&lt;/script&gt; Kunde &amp; &#34;gesperrt&#34;" in html
    assert 'data-tenant="acme"' in overview
    assert 'data-tenant="other-tenant"' in overview
    assert "4711" in overview  # sevDesk's own error code, next to its message
    # The failure links to the entity's history; the id is quoted into one path segment.
    assert 'href="/entities/acme/customer/cust%2F%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"' in overview
    assert 'data-tenant="other-tenant"' not in tenant
    assert 'data-status="failed"' in entity
    assert looked_up == entity  # the lookup form's query URL shows the same page


async def test_dead_letters_page_filters_and_never_shows_bodies(
    db: asyncpg.Pool, console_settings: Settings
) -> None:
    secret = "erika@example.org"
    for tenant, reason in (
        ("acme", "sevdesk_rejected"),
        ("acme", "retries_exhausted"),
        ("other", "sevdesk_rejected"),
    ):
        await insert_dead_letter(
            db,
            DeadLetterRow(
                reason=reason,
                error=f"{tenant}: {HOSTILE}",
                body=f'{{"email": "{secret}"}}'.encode(),
                event_id=uuid.uuid4(),
                tenant_id=tenant,
                event_type="customer.created",
            ),
        )
    await insert_dead_letter(
        db, DeadLetterRow(reason="malformed", error="body is not JSON", body=secret.encode())
    )
    async with console(console_settings) as session:
        await log_in(session)
        everything = await page(session, "/dead-letters")
        acme = await page(session, "/dead-letters?tenant=acme")
        rejected = await page(session, "/dead-letters?tenant=acme&reason=sevdesk_rejected")
        limited = await page(session, "/dead-letters?limit=1")
        await page(session, "/dead-letters?limit=0", status=400)
        await page(session, "/dead-letters?limit=lots", status=400)

    def shown(html: str) -> list[str]:
        return re.findall(r'id="dead-letter-(\d+)"', html)

    assert shown(everything) == ["4", "3", "2", "1"]  # newest first
    assert shown(acme) == ["2", "1"]
    assert shown(rejected) == ["1"]
    assert shown(limited) == ["4"]
    assert "4 open dead letters match; the newest 1 are shown." in limited
    for html in (everything, acme, rejected, limited):
        assert secret not in html
        assert "<script>" not in html
    assert "&lt;script&gt;" in everything
    # The malformed one has no event id, so no button of its own; the rest have one each.
    assert everything.count('class="replay"') == 3
    assert 'name="all" value="yes"' in everything  # unfiltered: 'all' must be ticked explicitly
    assert 'name="all"' not in acme


async def test_a_malformed_dead_letter_offers_no_replay_and_its_replay_is_refused(
    db: asyncpg.Pool, console_settings: Settings
) -> None:
    malformed, rejected = uuid.uuid4(), uuid.uuid4()
    for event_id, reason in ((malformed, "malformed"), (rejected, "sevdesk_rejected")):
        await insert_dead_letter(
            db,
            DeadLetterRow(
                reason=reason, error="refused", body=b"{}", event_id=event_id, tenant_id="acme",
                event_type="customer.created",
            ),
        )  # fmt: skip
    async with console(console_settings) as session:
        await log_in(session)
        listing = await page(session, "/dead-letters?tenant=acme")
        only_malformed = await page(session, "/dead-letters?reason=malformed")
        status, text, _ = await post(
            session, "/dead-letters/replay", {"csrf": csrf_of(listing), "event_id": str(malformed)}
        )

    rows = dict(re.findall(r'data-event-id="([^"]+)">(.*?)</tr>', listing, re.DOTALL))
    assert 'class="replay"' not in rows[str(malformed)]
    assert "the sender must send a corrected event" in rows[str(malformed)]
    assert 'class="replay"' in rows[str(rejected)]
    assert "fix (1)" in listing  # the matching replay counts the replayable one only
    assert 'id="replay-matching"' not in only_malformed  # nothing a replay could fix
    assert "1 of them is malformed" in only_malformed
    assert status == 409
    assert f"(event {malformed}) is malformed" in text
    assert await open_dead_letters(db) == 2


async def test_replay_needs_the_csrf_value_and_the_replayed_event_then_succeeds(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    async with console(console_settings) as session:
        event = await failing_customer(db, console_settings, sandbox)
        await log_in(session)
        listing = await page(session, "/dead-letters")
        assert f'data-event-id="{event["event_id"]}"' in listing
        csrf = csrf_of(listing)

        without = await post(session, "/dead-letters/replay", {"event_id": event["event_id"]})
        forged = await post(
            session, "/dead-letters/replay", {"event_id": event["event_id"], "csrf": csrf[:-1]}
        )
        unfiltered = await post(session, "/dead-letters/replay", {"csrf": csrf})
        bad_id = await post(session, "/dead-letters/replay", {"csrf": csrf, "event_id": "nope"})
        assert [r[0] for r in (without, forged, unfiltered, bad_id)] == [403, 403, 400, 400]
        assert "tick" in unfiltered[1]
        assert await open_dead_letters(db) == 1

        sandbox.sandbox.faults.clear()  # the cause is fixed
        status, _, location = await post(
            session,
            "/dead-letters/replay",
            {"csrf": csrf, "event_id": event["event_id"], "next": "//evil.example/phish"},
        )
        assert status == 303
        assert location == "/dead-letters?replayed=1&still_open=0"  # not the foreign `next`
        applied = await wait_for_first_outcome(db, event, "succeeded")
        confirmation = await page(session, location)
        history = await page(session, "/entities/acme/customer/cust-1001")

    assert (applied["status"], applied["attempt"]) == ("succeeded", 2), applied["error"]
    assert f"Replayed 1 dead letter to queue {console_settings.queue}." in confirmation
    assert await open_dead_letters(db) == 0
    assert await db.fetchval("SELECT replayed_at FROM sevsync.dead_letter") is not None
    statuses = re.findall(r'class="outcome" data-status="(\w+)"', history)
    assert statuses == ["succeeded", "failed"]  # newest first
    contact_id = await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_id = 'cust-1001'")
    assert f"<td>Contact</td><td>{contact_id}</td>" in history
    assert "sevdesk_rejected" in history
    assert "&lt;script&gt;" in history


async def test_replay_from_the_entity_page_returns_there(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    async with console(console_settings) as session:
        event = await failing_customer(db, console_settings, sandbox)
        sandbox.sandbox.faults.clear()
        await log_in(session)
        entity = await page(session, "/entities/acme/customer/cust-1001")
        assert 'name="next" value="/entities/acme/customer/cust-1001"' in entity
        status, _, location = await post(
            session,
            "/dead-letters/replay",
            {
                "csrf": csrf_of(entity),
                "event_id": event["event_id"],
                "next": "/entities/acme/customer/cust-1001",
            },
        )
        applied = await wait_for_first_outcome(db, event, "succeeded")

    assert (status, location) == (303, "/entities/acme/customer/cust-1001?replayed=1&still_open=0")
    assert applied["attempt"] == 2  # the replayed delivery, not an earlier one


async def test_an_entity_known_only_by_its_link_lists_no_dead_letters_of_others(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox)
    # Linked by an import: a link, no outcome. Another entity's event lies dead.
    async with db.acquire() as conn:
        await upsert_link(conn, "acme", LinkWrite("customer", "cust-imported", "Contact", "77", "K-77", None))
        await insert_dead_letter(
            conn, DeadLetterRow(reason="malformed", error="bad", body=b"{}", tenant_id="acme")
        )
    async with console(console_settings) as session:
        await log_in(session)
        entity = await page(session, "/entities/acme/customer/cust-imported")

    assert "<td>Contact</td><td>77</td>" in entity
    assert "Dead letters of its events" not in entity


async def test_input_postgres_cannot_take_is_refused_with_a_page_not_a_server_error(
    db: asyncpg.Pool, console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    digits = "9" * 5000  # more than int() parses by default: it raises instead
    async with console(console_settings) as session:
        await log_in(session)
        csrf = csrf_of(await page(session, "/dead-letters"))
        pages = [
            await page(session, "/dead-letters?reason=x%00", status=400),
            await page(session, "/tenants/acme%00", status=400),
            await page(session, "/entities/acme/customer/c%00-1", status=400),
            await page(session, "/entities?tenant=acme&entity_type=customer&entity_id=c%00", status=400),
            await page(session, f"/dead-letters?limit={digits}", status=400),
        ]
        flash = await page(session, f"/dead-letters?replayed={digits}")
        status, text, _ = await post(
            session, "/dead-letters/replay", {"csrf": csrf, "tenant": "acme\x00", "all": "yes"}
        )
    assert status == 400
    assert "NUL" in text
    assert all("NUL" in html for html in pages[:4])
    assert "Bad limit" in pages[4]
    assert "Replayed" not in flash  # a count too long to be one is no count
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_tenant_page_counts_skipped_events_waiting_to_be_sent(
    db: asyncpg.Pool, console_settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, console_settings, sandbox, enabled=False)
    part = envelope("product.created", product())
    async with console(console_settings) as session:
        await publish(console_settings, part)
        await wait_for_outcomes(db, part)
        await log_in(session)
        overview = await page(session, "/")
        tenant = await page(session, "/tenants/acme")

    assert "skipped, waiting" in overview
    assert re.search(r'<p id="skipped-waiting">1 skipped event of acme waits to be sent', tenant)
    assert "<code>sevsync skipped replay acme</code>" in tenant


async def test_a_form_that_cannot_be_read_is_refused_with_a_page_not_a_server_error(
    db: asyncpg.Pool, console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    unreadable = [
        # Bytes that are not UTF-8, a charset Python does not know, multipart without a boundary,
        # with a nameless field, with a field that is not UTF-8.
        ("application/x-www-form-urlencoded", b"token=\xff"),
        ("application/x-www-form-urlencoded; charset=no-such-charset", b"token=x"),
        ("multipart/form-data", b"token=x"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n\xff\r\n--b--\r\n',
        ),
    ]
    async with console(console_settings) as session:
        await log_in(session)
        for path in ("/login", "/dead-letters/replay", "/logout"):
            for content_type, body in unreadable:
                headers = {"Content-Type": content_type}
                async with session.post(path, data=body, headers=headers, allow_redirects=False) as response:
                    text = await response.text()
                assert response.status == 400, (path, content_type, text)
                assert "Bad input" in text
        assert "Tenants" in await page(session, "/")  # still logged in
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_session_cookie_that_is_not_utf8_is_no_session_not_a_server_error(
    db: asyncpg.Pool, console_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # aiohttp keeps undecodable header bytes as lone surrogates; a browser can send such a cookie.
    async with running_worker(console_settings) as worker:
        assert worker.http is not None
        for cookie in (b"1.\xff", b'"1.\xff"', b"\xff.\xff"):
            reader, writer = await asyncio.open_connection("127.0.0.1", worker.http.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: console\r\nConnection: close\r\n"
                b"Cookie: " + SESSION_COOKIE.encode() + b"=" + cookie + b"\r\n\r\n"
            )
            status_line = (await reader.readline()).decode()
            writer.close()
            await writer.wait_closed()
            assert status_line.split()[1] == "303", (cookie, status_line)  # sent to the login form
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
