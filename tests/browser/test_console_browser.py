"""The ops console in a real headless chromium: log in, see a failed event, replay it.

Never skipped: without chromium and chromedriver the test fails and says what to install (`.ci/run`
installs Debian's chromium and chromium-driver; CI also checks that this test ran and passed). The
sandbox and the worker serve from this test's event loop while selenium blocks, so every browser
step runs in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from sevsync.admin.auth import SESSION_COOKIE
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from tests.integration.harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    wait_for_first_outcome,
    wait_for_outcomes,
)
from tests.samples import company

pytestmark = pytest.mark.browser

ADMIN_TOKEN = "browser-test-token-0123456789abcdef"
# sevDesk's own words, with markup in them that the page must show as text.
SEVDESK_MESSAGE = 'Kontakt gesperrt: <b>Adresse</b> & "USt-IdNr." fehlt'
WAIT_SECONDS = 15


def browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [path for path in (chromium, driver) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"the browser test needs chromium and chromedriver, missing: {', '.join(missing)}; install "
            "them with `apt-get install chromium chromium-driver` (Debian; .ci/run does this)",
            pytrace=False,
        )
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.binary_location = chromium
    # Both paths given: selenium does not run Selenium Manager, which would try to download.
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS)


# --- browser steps (blocking; each runs in a thread) -------------------------------------------------


def log_in(driver: WebDriver, base: str) -> dict[str, Any]:
    """Open the console, land on the login form, log in; returns the session cookie."""
    driver.get(base + "/")
    wait(driver).until(expected_conditions.url_to_be(base + "/login"))
    driver.find_element(By.ID, "token").send_keys(ADMIN_TOKEN)
    driver.find_element(By.ID, "login").click()
    wait(driver).until(expected_conditions.url_to_be(base + "/"))
    cookie = driver.get_cookie(SESSION_COOKIE)
    assert cookie is not None, driver.page_source
    return dict(cookie)


def overview_rows(driver: WebDriver, event_id: str) -> tuple[str, str, int]:
    """The tenant row's text, the failure row's text and how many <b> elements that row holds."""
    tenant = driver.find_element(By.CSS_SELECTOR, "tr.tenant[data-tenant='acme']")
    failure = driver.find_element(By.CSS_SELECTOR, f"tr.failure[data-event-id='{event_id}']")
    return tenant.text, failure.text, len(failure.find_elements(By.TAG_NAME, "b"))


def replay_from_dead_letters_page(driver: WebDriver, base: str, event_id: str) -> tuple[str, str]:
    """Open the dead letters page from the menu and press the event's Replay button."""
    driver.find_element(By.LINK_TEXT, "Dead letters").click()
    wait(driver).until(expected_conditions.url_to_be(base + "/dead-letters"))
    row = driver.find_element(By.CSS_SELECTOR, f"tr.dead-letter[data-event-id='{event_id}']")
    row_text = row.text
    row.find_element(By.CSS_SELECTOR, "button.replay").click()
    flash = wait(driver).until(expected_conditions.visibility_of_element_located((By.ID, "flash")))
    return row_text, flash.text


def entity_history(driver: WebDriver, base: str) -> tuple[list[str], str, str]:
    """Look the customer up with the overview's form; the outcomes' statuses, newest first."""
    driver.get(base + "/")
    form = driver.find_element(By.ID, "entity-lookup")
    form.find_element(By.NAME, "tenant").send_keys("acme")
    Select(form.find_element(By.NAME, "entity_type")).select_by_visible_text("customer")
    form.find_element(By.NAME, "entity_id").send_keys("cust-1001")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "history")))
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.outcome")
    failed = next(row.text for row in rows if row.get_attribute("data-status") == "failed")
    return [row.get_attribute("data-status") or "" for row in rows], failed, driver.page_source


# --- the test -----------------------------------------------------------------------------------------


async def test_operator_logs_in_sees_the_failed_event_and_replays_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, browser: WebDriver
) -> None:
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status",
        status=422,
        code=4711,
        message=SEVDESK_MESSAGE,
        method="POST",
        path="^/Contact$",
        times=None,
    )
    event = envelope("customer.created", company("cust-1001"))
    event_id = event["event_id"]
    async with running_worker(settings) as worker:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        await publish(settings, event)
        [failed] = await wait_for_outcomes(db, event)
        assert (failed["status"], failed["reason"]) == ("failed", "sevdesk_rejected")

        cookie = await asyncio.to_thread(log_in, browser, base)
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert ADMIN_TOKEN not in cookie["value"]

        tenant_text, failure_text, bold = await asyncio.to_thread(overview_rows, browser, event_id)
        assert tenant_text.startswith("acme")
        assert "customer cust-1001" in failure_text
        assert "sevdesk_rejected" in failure_text
        assert SEVDESK_MESSAGE in failure_text  # shown as text, markup and all
        assert bold == 0

        sandbox.sandbox.faults.clear()  # the operator fixed the cause in sevDesk
        row_text, flash = await asyncio.to_thread(replay_from_dead_letters_page, browser, base, event_id)
        assert SEVDESK_MESSAGE in row_text
        assert flash == f"Replayed 1 dead letter to queue {settings.queue}."

        await wait_for_first_outcome(db, event, "succeeded")
        newest = await db.fetchrow(
            "SELECT status, attempt FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id DESC LIMIT 1",
            uuid.UUID(event_id),
        )
        assert newest is not None
        assert (newest["status"], newest["attempt"]) == ("succeeded", 2)
        replayed_at = await db.fetchval(
            "SELECT replayed_at FROM sevsync.dead_letter WHERE event_id = $1", uuid.UUID(event_id)
        )
        assert replayed_at is not None

        statuses, failed_text, source = await asyncio.to_thread(entity_history, browser, base)
        assert statuses == ["succeeded", "failed"], source
        assert SEVDESK_MESSAGE in failed_text


def run_the_account_check(driver: WebDriver, base: str) -> list[tuple[str, str, str]]:
    """On the tenant page, press the account check's button; each line's check, status and colour."""
    driver.get(base + "/tenants/acme")
    driver.find_element(By.ID, "run-doctor").click()
    wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "doctor")))
    return [
        (
            row.get_attribute("data-check") or "",
            row.find_element(By.CSS_SELECTOR, ".doctor-status").text,
            row.find_element(By.CSS_SELECTOR, ".doctor-status").value_of_css_property("color"),
        )
        for row in driver.find_elements(By.CSS_SELECTOR, "tr.doctor-line")
    ]


async def test_operator_checks_the_sevdesk_account_from_the_tenant_page(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, browser: WebDriver
) -> None:
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    await add_tenant(db, settings, sandbox, units={"hour": "99"}, check_accounts={"bank": "1001"})
    async with running_worker(settings) as worker:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        await asyncio.to_thread(log_in, browser, base)
        lines = await asyncio.to_thread(run_the_account_check, browser, base)

    statuses = {check: status for check, status, _ in lines}
    assert statuses["units"] == "FAIL"
    assert statuses["connection"] == "PASS"
    colours = {status: colour for _, status, colour in lines}
    assert len(set(colours.values())) == len(colours)  # PASS and FAIL look different


def relink_and_clear(driver: WebDriver, base: str, part_id: str) -> tuple[int, list[str]]:
    """On the tenant page: relink product prod-1 to `part_id`, then clear customer cust-1; how many
    broken links the page listed first, and which are left."""
    driver.get(base + "/tenants/acme")
    listed = len(driver.find_elements(By.CSS_SELECTOR, "tr.broken-link"))
    row = driver.find_element(By.CSS_SELECTOR, "tr.broken-link[data-entity-id='prod-1']")
    row.find_element(By.NAME, "sevdesk_id").send_keys(part_id)
    row.find_element(By.CSS_SELECTOR, "button.relink").click()
    wait(driver).until(expected_conditions.staleness_of(row))
    row = driver.find_element(By.CSS_SELECTOR, "tr.broken-link[data-entity-id='cust-1']")
    row.find_element(By.CSS_SELECTOR, "button.clear").click()
    wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "no-broken-links")))
    left = [
        r.get_attribute("data-entity-id") or ""
        for r in driver.find_elements(By.CSS_SELECTOR, "tr.broken-link")
    ]
    return listed, left


async def test_operator_relinks_and_clears_broken_links_from_the_tenant_page(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, browser: WebDriver
) -> None:
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    token = await add_tenant(db, settings, sandbox)
    part = sandbox.sandbox.account(token).insert("Part", {"name": "Made by hand", "partNumber": "HAND-1"})
    await db.execute(
        """
        INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id,
                                         broken_at, broken_reason)
        VALUES ('acme', 'product', 'prod-1', 'Part', '900', now(), 'deleted_in_sevdesk'),
               ('acme', 'customer', 'cust-1', 'Contact', '902', now(), 'deleted_in_sevdesk')
        """
    )
    async with running_worker(settings) as worker:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        await asyncio.to_thread(log_in, browser, base)
        listed, left = await asyncio.to_thread(relink_and_clear, browser, base, str(part.id))

    assert (listed, left) == (2, [])
    rows = await db.fetch(
        "SELECT entity_id, sevdesk_id, broken_at FROM sevsync.entity_link ORDER BY entity_id"
    )
    assert [(r["entity_id"], r["sevdesk_id"], r["broken_at"]) for r in rows] == [
        ("cust-1", None, None),  # cleared: the row stays without an object, keeping its versions
        ("prod-1", str(part.id), None),
    ]
