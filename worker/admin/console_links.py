"""The console's broken-link actions: relink or clear from the tenant page (tenants.links's rules).

Forms carry the tenant, link type and CRM id as fields, not in the path: ids may be dot segments.
After the decision the browser returns to the tenant page, where the link is gone from the list.
"""

from __future__ import annotations

from aiohttp import web

from ..tenants.links import LinkConflict, RelinkRefused, SevdeskUnavailable, clear_link, relink
from ..tenants.service import TenantError, TenantNotFound
from .console import Form, _Console, _redirect, _text
from .console_templates import tenant_url


def _target(form: Form) -> tuple[str, str, str] | None:
    tenant, entity_type, entity_id = (_text(form, name) for name in ("tenant", "entity_type", "entity_id"))
    if not tenant or not entity_type or not entity_id:
        return None
    return tenant, entity_type, entity_id


def _refused(c: _Console, exc: TenantError) -> web.Response:
    status = 422
    if isinstance(exc, TenantNotFound):
        status = 404
    elif isinstance(exc, LinkConflict):
        status = 409
    elif isinstance(exc, SevdeskUnavailable):
        status = 503
    title = "Relink refused" if isinstance(exc, RelinkRefused) else "Link not changed"
    return c.problem(status, title, str(exc))


def _back(tenant: str) -> web.Response:
    # The tenant page shows what is left broken.
    return _redirect(tenant_url(tenant) + "#broken-links")


async def clear_action(c: _Console, form: Form) -> web.Response:
    target = _target(form)
    if target is None:
        return c.problem(400, "Bad form", "The form lacks the tenant, link type or CRM id.")
    tenant, entity_type, entity_id = target
    try:
        await clear_link(c.services.pool, tenant, entity_type, entity_id)
    except TenantError as exc:
        return _refused(c, exc)
    return _back(tenant)


async def relink_action(c: _Console, form: Form) -> web.Response:
    target = _target(form)
    sevdesk_id = (_text(form, "sevdesk_id") or "").strip()
    if target is None or not sevdesk_id:
        return c.problem(400, "Bad form", "Give the id of the sevDesk object to link to.")
    tenant, entity_type, entity_id = target
    services = c.services
    try:
        await relink(
            services.pool, services.client, services.cipher, tenant, (entity_type, entity_id), sevdesk_id
        )
    except TenantError as exc:
        return _refused(c, exc)
    return _back(tenant)
