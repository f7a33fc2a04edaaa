"""The console's templates (templates/, autoescaped) and the helpers and links they use.

Everything printed goes through autoescaping: error texts come from sevDesk and ids from event
bodies, both untrusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape

from ..outcome_words import STATUSES
from ..replay import UNREPLAYABLE_WHY
from ..store.dead_letters import UNREPLAYABLE_REASONS
from . import queries

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a misspelt name fails a test instead of rendering blank
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- formatting helpers used by the templates ------------------------------------------------------


def _timestamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "–"


def _timestamp_lines(value: datetime | None) -> Markup:
    """The date over the time, so that a narrow column never breaks inside either."""
    date, _, time = _timestamp(value).partition(" ")
    return escape(date) + (Markup("<br>") + escape(time.replace(" ", "\u00a0")) if time else Markup(""))


def _clip(text: str | None, width: int) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _view_url(path: str, query: Mapping[str, str], parts: tuple[str, ...]) -> str:
    """`path/part/...` with each part quoted, or `path?query` when a part is `.` or `..`.

    Tenant and entity ids may be dot segments, which browsers would resolve away in a path.
    """
    if any(part in (".", "..") for part in parts):
        return f"{path}?{urlencode(query)}"
    return path + "".join("/" + quote(part, safe="") for part in parts)


def tenant_url(tenant_id: str) -> str:
    return _view_url("/tenants", {"tenant": tenant_id}, (tenant_id,))


def entity_url(tenant_id: str, entity_type: str, entity_id: str) -> str:
    query = {"tenant": tenant_id, "entity_type": entity_type, "entity_id": entity_id}
    return _view_url("/entities", query, (tenant_id, entity_type, entity_id))


def dead_letters_url(tenant_id: str | None = None, reason: str | None = None, **extra: object) -> str:
    query = {"tenant": tenant_id, "reason": reason, **extra}
    given = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return "/dead-letters" + (f"?{urlencode(given)}" if given else "")


templates.filters.update(timestamp=_timestamp, timestamp_lines=_timestamp_lines, clip=_clip)
templates.globals.update(
    tenant_url=tenant_url,
    entity_url=entity_url,
    dead_letters_url=dead_letters_url,
    statuses=STATUSES,
    unreplayable_reasons=UNREPLAYABLE_REASONS,
    unreplayable_why=UNREPLAYABLE_WHY,
    entity_types=queries.ENTITY_TYPES,
)
