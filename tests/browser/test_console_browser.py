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
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
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

from .console_state import seed_console_state

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
    # The profile, and whatever else chromium and chromedriver put in a temporary directory or the
    # home's config and cache (crash reports), in one folder removed afterwards: no
    # /tmp/org.chromium.Chromium.* left behind by a session. A short path, not pytest's tmp_path:
    # chromium's singleton socket lives in it, and a Unix socket's path may not pass 107 bytes.
    with tempfile.TemporaryDirectory(prefix="sevsync-chromium-") as scratch:
        root = Path(scratch)
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={root / 'profile'}")
        options.binary_location = chromium
        env = {name: str(root / folder) for name, folder in _SCRATCH_FOLDERS.items()}
        for folder in env.values():
            Path(folder).mkdir()
        # Both paths given: selenium does not run Selenium Manager, which would try to download.
        service = Service(driver_path, env={**os.environ, **env})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_page_load_timeout(WAIT_SECONDS)
            yield driver
        finally:
            driver.quit()


_SCRATCH_FOLDERS = {"TMPDIR": "tmp", "XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache"}


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
    # The address changes before the overview is loaded: wait for the page itself.
    wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "entity-lookup")))
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
    row = wait(driver).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f"tr.dead-letter[data-event-id='{event_id}']")
        )
    )
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


def click_when_settled(driver: WebDriver, selector: str) -> None:
    """Click the element as soon as the page that holds it stays: an element found while its page
    was still being replaced is refused ("does not belong to the document"), so it is found again."""

    def clicked(d: WebDriver) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
        except WebDriverException:  # not there yet, stale, or of a document being replaced
            return False
        return True

    wait(driver).until(clicked)


def relink_and_clear(driver: WebDriver, base: str, part_id: str) -> tuple[int, list[str]]:
    """On the tenant page: relink product prod-1 to `part_id`, then clear customer cust-1; how many
    broken links the page listed first, and which are left."""
    driver.get(base + "/tenants/acme")
    listed = len(driver.find_elements(By.CSS_SELECTOR, "tr.broken-link"))
    row = driver.find_element(By.CSS_SELECTOR, "tr.broken-link[data-entity-id='prod-1']")
    row.find_element(By.NAME, "sevdesk_id").send_keys(part_id)
    row.find_element(By.CSS_SELECTOR, "button.relink").click()
    # The old page is gone once its row is stale; the new one may still be loading.
    wait(driver).until(expected_conditions.staleness_of(row))
    click_when_settled(driver, "tr.broken-link[data-entity-id='cust-1'] button.clear")
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


# --- the counts agree, at 1280 x 800 (screenshots under build/console-screenshots/) ---------------------

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
# Each <th> whose text runs over more than one line box.
WRAPPED_HEADERS_JS = """
return Array.from(document.querySelectorAll('th')).filter(th => {
    const range = document.createRange();
    range.selectNodeContents(th);
    const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
    return tops.size > 1;
}).map(th => th.textContent.trim());
"""


@dataclass
class PageFacts:
    counts: dict[str, int]  # element id -> the number it shows
    failing: list[str]  # "type id" of each Failing now row
    tenant_row: dict[str, int]  # the tenant row's count cells, by class
    wrapped_headers: list[str]
    overflow: int  # how many pixels the page is wider than the window shows


def _number(driver: WebDriver, element_id: str) -> int:
    found = driver.find_elements(By.ID, element_id)
    return int(found[0].text.split()[0]) if found else 0


def _facts(driver: WebDriver, base: str, path: str, name: str) -> PageFacts:
    """Open a page at 1280 x 800, save its screenshot, read what it counts."""
    driver.get(base + path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    ids = ("failing-count", "open-dead-letters-count", "unreplayable-count", "without-tenant-count")
    counts = {
        i: _number(driver, i) for i in (*ids, "failed-24h-count", "dead-24h-count", "dead-letter-count")
    }
    failing = [
        row.find_elements(By.TAG_NAME, "td")[2].text
        for row in driver.find_elements(By.CSS_SELECTOR, "tr.failure")
    ]
    cells = driver.find_elements(By.CSS_SELECTOR, "tr.tenant[data-tenant='acme'] td.num")
    tenant_row: dict[str, int] = {}
    for cell in cells:
        # The cell's count-... class names its column (an unnamed one counts as unknown).
        names = [c for c in (cell.get_attribute("class") or "").split() if c.startswith(("count-", "broken"))]
        tenant_row[names[0] if names else "unknown"] = int(cell.text)
    return PageFacts(
        counts,
        failing,
        tenant_row,
        driver.execute_script(WRAPPED_HEADERS_JS),
        int(
            driver.execute_script("const e = document.documentElement; return e.scrollWidth - e.clientWidth")
        ),
    )


def read_console(driver: WebDriver, base: str) -> tuple[dict[str, PageFacts], dict[str, Any]]:
    """The overview, the tenant page and the dead letters page; and what the last two show besides."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    pages = {
        "overview": _facts(driver, base, "/", "overview"),
        "tenant": _facts(driver, base, "/tenants/acme", "tenant"),
    }
    settings = {
        row.get_attribute("data-setting"): row.find_element(By.CSS_SELECTOR, "td.value").text
        for row in driver.find_elements(By.CSS_SELECTOR, "tr.setting")
    }
    source = driver.page_source
    pages["dead"] = _facts(driver, base, "/dead-letters", "dead-letters")
    letters = {
        row.get_attribute("id"): (
            row.find_elements(By.TAG_NAME, "td")[4].text,
            len(row.find_elements(By.CSS_SELECTOR, "button.replay")),
            len(row.find_elements(By.CSS_SELECTOR, ".unreplayable")),
        )
        for row in driver.find_elements(By.CSS_SELECTOR, "tr.dead-letter")
    }
    return pages, {"settings": settings, "tenant_source": source, "letters": letters}


async def database_counts(db: asyncpg.Pool) -> dict[str, Any]:
    """The same facts, straight from the tables (the 24-hour window on the database's clock)."""
    failing = await db.fetch(
        "SELECT entity_type || ' ' || entity_id AS entity FROM sevsync.entity_state"
        " WHERE status IN ('failed', 'dead')"
    )
    return {
        "failing": sorted(row["entity"] for row in failing),
        "open": await db.fetchval("SELECT count(*) FROM sevsync.dead_letter WHERE replayed_at IS NULL"),
        "open_acme": await db.fetchval(
            "SELECT count(*) FROM sevsync.dead_letter WHERE replayed_at IS NULL AND tenant_id = 'acme'"
        ),
        "malformed": await db.fetchval(
            "SELECT count(*) FROM sevsync.dead_letter WHERE replayed_at IS NULL AND reason = 'malformed'"
        ),
        "failed_24h": await db.fetchval(
            "SELECT count(*) FROM sevsync.sync_outcome"
            " WHERE status = 'failed' AND created_at > now() - interval '24 hours'"
        ),
    }


async def test_the_console_counts_agree_with_each_other_and_the_database(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, browser: WebDriver
) -> None:
    settings = settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with running_worker(settings) as worker:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        state = await seed_console_state(db, settings, sandbox)
        expected = await database_counts(db)
        await asyncio.to_thread(log_in, browser, base)
        pages, shown = await asyncio.to_thread(read_console, browser, base)

    overview, tenant, dead = pages["overview"].counts, pages["tenant"].counts, pages["dead"].counts
    # Seeded: two entities failing (one failed an hour ago, one died three days ago), two recovered.
    assert (
        expected["failing"]
        == sorted(f"{t} {i}" for t, i in state.failing)
        == [
            "customer cust-failing",
            "product prod-old",
        ]
    )
    # Failing now: the tile, the list, the tenant's cell and the tenant page all say the same.
    for facts in (pages["overview"], pages["tenant"]):
        assert sorted(facts.failing) == expected["failing"]
        assert facts.counts["failing-count"] == len(facts.failing) == facts.tenant_row["count-failing"]
    assert " ".join(state.recovered) not in pages["overview"].failing
    assert pages["overview"].failing == ["customer cust-failing", "product prod-old"]  # newest first
    # Open dead letters: overview = dead letters page = its rows = the database; the tenant's share.
    assert overview["open-dead-letters-count"] == dead["dead-letter-count"] == len(shown["letters"])
    assert overview["open-dead-letters-count"] == expected["open"] == 5
    assert tenant["open-dead-letters-count"] == pages["overview"].tenant_row["count-open-dead-letters"]
    assert tenant["open-dead-letters-count"] == expected["open_acme"] == 4
    assert overview["without-tenant-count"] == expected["open"] - expected["open_acme"] == 1
    assert overview["unreplayable-count"] == expected["malformed"] == 2
    # In the last 24 h: attempts, the recovered entity's failure included; the 3-day-old death not.
    assert overview["failed-24h-count"] == pages["overview"].tenant_row["count-24h-failed"]
    assert overview["failed-24h-count"] == expected["failed_24h"] == 2
    assert overview["dead-24h-count"] == pages["overview"].tenant_row["count-24h-dead"] == 0
    assert pages["tenant"].tenant_row == pages["overview"].tenant_row
    # Malformed letters: no replay button, the reason why instead; every other one has its button.
    for reason, buttons, why in shown["letters"].values():
        assert (buttons, why) == ((0, 1) if reason == "malformed" else (1, 0)), shown["letters"]
    # The tenant's settings as stored, never its token.
    assert shown["settings"]["contact_person_id"] == "4711"
    assert shown["settings"]["e_invoice"] == "customers"
    assert shown["settings"]["check_accounts"] == "bank → 1001"
    assert shown["settings"]["payment_methods"] == "sepa → 21"
    assert state.token not in shown["tenant_source"]
    # Every header on one line, every page within 1280 px.
    for name, facts in pages.items():
        assert facts.wrapped_headers == [], name
        assert facts.overflow == 0, name
