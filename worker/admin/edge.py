"""Input no admin route may pass on: text Postgres cannot store, integers a bigint cannot hold.

Postgres text holds no NUL character and only what encodes as UTF-8 (not a lone surrogate, which
Python's JSON parser lets through); a bigint holds 64 bits. Handed to asyncpg, such values fail as
a 500 with a traceback. One middleware refuses them for every route of the admin API and the
console, in the path, the query string, a posted form and a JSON body, with a one-line answer: 400
for the URL or a form, 422 for a JSON body; a form that cannot be parsed at all is a 400 too. The
OpenAPI document states the same limits (`openapi.py` applies `TEXT_PATTERN` and the bigint bounds to
every request schema).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from .api import PREFIX
from .console import bad_input_page

# JSON Schema (ECMA-262) syntax: no NUL anywhere in the string.
TEXT_PATTERN = "^[^\\u0000]*$"
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def text_problem(text: str) -> str | None:
    """Why Postgres cannot store `text`, or None when it can."""
    if "\x00" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def value_problem(value: Any, where: str) -> str | None:
    """The first string or integer in a parsed JSON value that Postgres cannot take, as one line."""
    pending: list[tuple[Any, str]] = [(value, where)]
    while pending:  # a loop, not recursion: a deeply nested body must not overflow the stack
        item, path = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return f"{_printable(path) or 'body'}: {problem}"
        elif isinstance(item, int) and not isinstance(item, bool):
            if not BIGINT_MIN <= item <= BIGINT_MAX:
                return f"{_printable(path) or 'body'}: must be a whole number of at most 64 bits"
        elif isinstance(item, dict):
            for key, member in item.items():
                inner = f"{path}.{key}" if path else str(key)
                key_problem = text_problem(key)
                if key_problem is not None:
                    return f"{_printable(inner)}: the name {key_problem}"
                pending.append((member, inner))
        elif isinstance(item, list):
            pending.extend((member, f"{path}.{i}" if path else str(i)) for i, member in enumerate(item))
    return None


def _pairs_problem(pairs: Iterable[tuple[str, object]], what: str) -> str | None:
    for name, value in pairs:
        problem = text_problem(name)
        if problem is not None:
            return f"a {what} name {problem}"
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                return f"{what} {_printable(name)}: {problem}"
    return None


def _printable(name: str) -> str:
    # The name goes into a one-line message: no control characters, no surrogates, not too long.
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in shown)
    return shown if len(shown) <= 60 else shown[:59] + "…"


@web.middleware
async def refuse_unstorable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The middleware of the admin port: the API answers in JSON, the console with its error page."""
    found = _pairs_problem(request.match_info.items(), "path parameter") or _pairs_problem(
        request.query.items(), "query parameter"
    )
    if found is not None:
        return _answer(request, 400, found)
    if request.method in BODY_METHODS and request.body_exists:
        if _is_api(request):
            found = await _json_problem(request)
            if found is not None:
                return _answer(request, 422, found)
        elif request.content_type in FORM_TYPES:
            try:
                # Parsed once: the handler's own `request.post()` gets the same, cached, result.
                form = await request.post()
            except (ValueError, LookupError):
                # aiohttp's parser raises these for bytes that are not text in the form's charset,
                # a charset Python does not know, a multipart body without boundary or field name.
                return _answer(request, 400, "the form cannot be read: not form data in its declared charset")
            found = _pairs_problem(form.items(), "form field")
            if found is not None:
                return _answer(request, 400, found)
    return await handler(request)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(PREFIX + "/")


def _answer(request: web.Request, status: int, message: str) -> web.Response:
    if _is_api(request):
        return web.json_response({"error": message}, status=status)
    return bad_input_page(status, message)


async def _json_problem(request: web.Request) -> str | None:
    try:
        # Cached by aiohttp: the handler reads the same bytes again.
        parsed = json.loads(await request.read(), parse_int=_bounded_int)
    except (ValueError, RecursionError):
        return None  # not JSON at all: the handler's own parser answers that
    return value_problem(parsed, "")


def _bounded_int(digits: str) -> int:
    # A number too long for a bigint is flagged as out of range without parsing all of it (int()
    # refuses more than 4300 digits with an error that would say nothing about the field).
    return int(digits) if len(digits) <= 20 else BIGINT_MAX + 1
