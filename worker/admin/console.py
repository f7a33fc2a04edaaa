"""The ops console: server-rendered pages on the admin port, behind the admin token.

The login form exchanges the token for a session cookie (see auth.py); every form that changes
something carries a CSRF value derived from that session. The pages show what the admin API shows
(queries.py) and replay dead letters with the CLI's rules. The markup lives in templates/, rendered
with autoescaping on: error texts come from sevDesk and ids from event bodies, both untrusted.
Dead-letter bodies (personal data) are never read here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from yarl import URL

from ..imports.runs import connected_tenant
from ..replay import (
    ReplayError,
    UnnarrowedReplay,
    UnreplayableDeadLetters,
    replay,
    replayable_part,
    replayable_selection,
)
from ..store.db import Connection
from ..store.dead_letters import DeadLetterFilter, list_dead_letters
from ..store.links import broken_links
from ..tenants.doctor import run_doctor
from ..tenants.doctor_checks import CheckLine
from ..tenants.service import TenantError, TenantNotFound
from . import queries
from .api.reconcile import reconciler_of
from .auth import SESSION_COOKIE, SESSION_SECONDS
from .console_templates import dead_letters_url, entity_url, templates, tenant_url
from .services import AdminServices, services_of

# No scripts, no external assets, no framing; forms may only post back here.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
FAILURES_SHOWN = 50
HISTORY_SHOWN = 200
# Where a replay form may send the browser afterwards: a path on this server, nothing that a
# browser could read as another host (`//host`, `/\host`, control characters it would strip).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\x00-\x20\x7f\\]*")

# --- responses -------------------------------------------------------------------------------------


def _render(template: str, *, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("csrf", None)  # None: not logged in, no logout button
    context.setdefault("flash", None)
    html = templates.get_template(template).render(**context)
    return web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS
    )


def _redirect(location: str) -> web.Response:
    # A response, not a raised HTTPSeeOther, so that it carries the same headers as every page.
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


def _problem(status: int, title: str, message: str, csrf: str | None = None) -> web.Response:
    return _render("error.html", status=status, title=title, message=message, csrf=csrf)


def bad_input_page(status: int, message: str) -> web.Response:
    """The page for input refused before any view runs (edge.py): no session is looked at."""
    return _problem(status, "Bad input", message)


@dataclass(frozen=True)
class _Console:
    """One logged-in request: what a view needs, and rendering with the session's CSRF value."""

    request: web.Request
    services: AdminServices
    csrf: str

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        return _render(template, status=status, csrf=self.csrf, flash=self._flash(), **context)

    def problem(self, status: int, title: str, message: str) -> web.Response:
        return _problem(status, title, message, self.csrf)

    def _flash(self) -> str | None:
        # Only numbers and fixed words come from the query string: a link cannot put words on the page.
        reconcile = _RECONCILE_FLASH.get(self.request.query.get("reconcile", ""))
        if reconcile is not None:
            return reconcile
        replayed = _number(self.request.query.get("replayed"))
        if replayed is None:
            return None
        still_open = _number(self.request.query.get("still_open")) or 0
        text = f"Replayed {_plural(replayed, 'dead letter')} to queue {self.services.settings.queue}."
        return text + (f" {still_open} matching still open." if still_open else "")


# A posted form as aiohttp parses it: text fields, and file uploads that the console never takes.
Form = MultiDictProxy[str | bytes | bytearray | FileField]
ConsoleView = Callable[[_Console], Awaitable[web.Response]]
ConsoleAction = Callable[[_Console, Form], Awaitable[web.Response]]


def _session(request: web.Request) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie if services_of(request).token.session_valid(cookie) else None


def _page(view: ConsoleView) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A page for the logged-in operator; anyone else is sent to the login form."""

    async def handle(request: web.Request) -> web.Response:
        session = _session(request)
        if session is None:
            return _redirect("/login")
        services = services_of(request)
        return await view(_Console(request, services, services.token.csrf_for(session)))

    return handle


def _action(action: ConsoleAction) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A form post: needs the session and the CSRF value that the session's pages carry."""

    async def handle(request: web.Request) -> web.Response:
        session = _session(request)
        if session is None:
            return _problem(401, "Not logged in", "Your session has ended. Log in again, then retry.")
        services = services_of(request)
        form = await request.post()
        if not services.token.csrf_valid(session, _text(form, "csrf")):
            return _problem(
                403,
                "Form refused",
                "This form did not come from the current console session. Reload the page and retry.",
            )
        return await action(_Console(request, services, services.token.csrf_for(session)), form)

    return handle


# --- login -----------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    if _session(request) is not None:
        return _redirect("/")
    return _render("login.html", message="Logged out." if "logged_out" in request.query else None)


async def login(request: web.Request) -> web.Response:
    services = services_of(request)
    form = await request.post()
    if not services.token.matches(_text(form, "token")):
        # Nothing about why: no hint whether the token was close, empty or of another worker.
        return _render("login.html", status=401, message="Wrong token.")
    response = _redirect("/")
    response.set_cookie(
        SESSION_COOKIE,
        services.token.new_session(),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    session = _session(request)
    form = await request.post()
    # Without a valid session there is nothing to protect: just clear the cookie.
    if session is not None and not services_of(request).token.csrf_valid(session, _text(form, "csrf")):
        return _problem(403, "Form refused", "Reload the page and log out again.")
    response = _redirect("/login?logged_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- pages -----------------------------------------------------------------------------------------


@asynccontextmanager
async def _snapshot(c: _Console) -> AsyncIterator[Connection]:
    """One read-only snapshot for a page: its counts and lists agree while the worker writes."""
    async with (
        c.services.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        yield conn


async def overview(c: _Console) -> web.Response:
    async with _snapshot(c) as db:
        return c.render(
            "overview.html",
            tenants=await queries.tenant_health(db),
            failures=await queries.recent_failures(db, limit=FAILURES_SHOWN),
            failing=await queries.count_failing(db),
            dead=await queries.dead_letter_totals(db),
        )


async def tenant_page(c: _Console, *, doctor: bool = False) -> web.Response:
    tenant_id = c.request.match_info.get("tenant") or c.request.query.get("tenant", "")
    if not await queries.tenant_health(c.services.pool, tenant_id):
        return c.problem(404, "No such tenant", f"There is no tenant {tenant_id!r}.")
    # The account check reads sevDesk, so it runs when asked for (a GET: it changes nothing).
    checks = await _doctor(c, tenant_id) if doctor else None
    async with _snapshot(c) as db:
        health = await queries.tenant_health(db, tenant_id)
        if not health:  # removed meanwhile
            return c.problem(404, "No such tenant", f"There is no tenant {tenant_id!r}.")
        return c.render(
            "tenant.html",
            tenant=health[0],
            failures=await queries.recent_failures(db, tenant_id=tenant_id, limit=FAILURES_SHOWN),
            failing=health[0].open_failures,  # the view's column, as the overview's row shows it
            dead=await queries.dead_letter_totals(db, tenant_id),
            settings=await queries.tenant_settings(db, tenant_id),
            checks=checks,
            broken=await broken_links(db, tenant_id),
        )


async def doctor_page(c: _Console) -> web.Response:
    return await tenant_page(c, doctor=True)


async def _doctor(c: _Console, tenant_id: str) -> list[CheckLine]:
    try:
        return await run_doctor(c.services.pool, c.services.client, c.services.cipher, tenant_id)
    except TenantError as exc:  # the row went away between the two reads
        return [CheckLine("connection", "FAIL", str(exc))]


async def dead_letters_page(c: _Console) -> web.Response:
    query = c.request.query
    tenant_id, reason = _optional(query.get("tenant")), _optional(query.get("reason"))
    limit = _number(query.get("limit", str(DEFAULT_LIST_LIMIT)))
    if limit is None or not 1 <= limit <= MAX_LIST_LIMIT:
        return c.problem(400, "Bad limit", f"The limit must be a number from 1 to {MAX_LIST_LIMIT}.")
    filters = DeadLetterFilter(tenant_id=tenant_id, reason=reason)
    async with _snapshot(c) as db:
        return c.render(
            "dead_letters.html",
            tenant_id=tenant_id,
            reason=reason,
            limit=limit,
            rows=await list_dead_letters(db, filters, limit=limit),
            selection=await replayable_part(db, filters),
            here=str(c.request.rel_url),
        )


async def entity_page(c: _Console) -> web.Response:
    # The path form is what the pages link to; the query form serves the lookup form and dot ids.
    source = c.request.match_info if "entity_id" in c.request.match_info else c.request.query
    tenant_id = source.get("tenant", "")
    entity_type = source.get("entity_type", "")
    entity_id = source.get("entity_id", "")
    if entity_type not in queries.ENTITY_TYPES:
        return c.problem(404, "No such entity type", f"Entity types are: {', '.join(queries.ENTITY_TYPES)}.")
    pool = c.services.pool
    history = await queries.entity_history(pool, tenant_id, entity_type, entity_id, limit=HISTORY_SHOWN)
    links = await queries.entity_links(pool, tenant_id, entity_type, entity_id)
    if not history and not links:
        return c.problem(
            404,
            "Nothing recorded",
            f"No outcome is recorded for {entity_type} {entity_id!r} of {tenant_id!r}.",
        )
    event_ids = tuple(dict.fromkeys(outcome.event_id for outcome in history))
    # No events (an entity known from an import only): a filter without ids would select them all.
    dead = (
        await list_dead_letters(pool, DeadLetterFilter(event_ids=event_ids), limit=MAX_LIST_LIMIT)
        if event_ids
        else []
    )
    return c.render(
        "entity.html",
        tenant_id=tenant_id,
        entity_type=entity_type,
        entity_id=entity_id,
        history=history,
        links=links,
        dead=dead,
        here=entity_url(tenant_id, entity_type, entity_id),
    )


async def replay_dead_letters(c: _Console, form: Form) -> web.Response:
    """Replay with the CLI's rules: narrowed by tenant, reason or event id, or 'all' said explicitly."""
    try:
        event_ids = tuple(dict.fromkeys(UUID(text) for text in _texts(form, "event_id")))
    except ValueError:
        return c.problem(400, "Bad event id", "An event id is not a UUID.")
    limit_text = _optional(_text(form, "limit"))
    limit = _number(limit_text) if limit_text is not None else None
    if limit_text is not None and (limit is None or limit < 1):
        return c.problem(400, "Bad limit", "The limit must be a number of 1 or more, or empty.")
    filters = DeadLetterFilter(
        tenant_id=_optional(_text(form, "tenant")),
        reason=_optional(_text(form, "reason")),
        event_ids=event_ids,
    )
    everything = _text(form, "all") == "yes"
    settings = c.services.settings
    try:
        selection = await replayable_selection(c.services.pool, filters)
        summary = await replay(
            c.services.pool,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            selection.filters,
            limit=limit,
            everything=everything,
        )
    except UnnarrowedReplay:
        return c.problem(
            400, "Replay refused", "Choose a tenant, a reason or an event, or tick 'every open dead letter'."
        )
    except UnreplayableDeadLetters as exc:
        return c.problem(409, "Replay refused", str(exc))
    except ReplayError as exc:
        return c.problem(502, "Replay failed", str(exc))
    back = URL(_local_path(_text(form, "next")) or dead_letters_url(filters.tenant_id, filters.reason))
    return _redirect(str(back.update_query(replayed=summary.replayed, still_open=summary.still_open)))


_RECONCILE_FLASH = {
    "started": "Reconciliation started: what changed in sevDesk goes to the CRM as events.",
    "running": "A reconciliation of this tenant is running already.",
}


async def start_reconcile(c: _Console, form: Form) -> web.Response:
    """The tenant page's button: a reconciliation run of every kind, in the worker (as the API's)."""
    tenant_id = _text(form, "tenant") or ""
    try:
        await connected_tenant(c.services.pool, tenant_id)
    except TenantNotFound as exc:  # as the API answers
        return c.problem(404, "Not reconciled", str(exc))
    except TenantError as exc:
        return c.problem(409, "Not reconciled", str(exc))
    started = reconciler_of(c.services).start(tenant_id)
    back = URL(tenant_url(tenant_id))
    return _redirect(str(back.update_query(reconcile="started" if started else "running")))


# --- form and query values -------------------------------------------------------------------------


def _text(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None  # a file upload is no text


def _texts(form: Form, name: str) -> list[str]:
    return [value for value in form.getall(name, []) if isinstance(value, str)]


def _optional(text: str | None) -> str | None:
    """A form or query value; empty means 'not given'."""
    text = text.strip() if text is not None else None
    return text or None


def _number(text: str | None) -> int | None:
    # At most 18 digits: a bigint holds it, and int() never meets its limit on digits.
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _local_path(text: str | None) -> str | None:
    return text if text is not None and _LOCAL_PATH.fullmatch(text) else None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def console_routes() -> list[web.RouteDef]:
    # Imported here: the link actions are built on this module's session and form helpers.
    from .console_links import clear_action, relink_action

    return [
        web.get("/", _page(overview)),
        web.get("/login", login_form),
        web.post("/login", login),
        web.post("/logout", logout),
        web.get("/tenants", _page(tenant_page)),
        web.get("/tenants/{tenant}", _page(tenant_page)),
        web.get("/doctor", _page(doctor_page)),
        web.post("/reconcile", _action(start_reconcile)),
        web.get("/dead-letters", _page(dead_letters_page)),
        web.post("/dead-letters/replay", _action(replay_dead_letters)),
        web.post("/links/clear", _action(clear_action)),
        web.post("/links/relink", _action(relink_action)),
        web.get("/entities", _page(entity_page)),
        web.get("/entities/{tenant}/{entity_type}/{entity_id:.+}", _page(entity_page)),
    ]
