"""Creates that are never repeated blindly (CONTRACT section 8).

sevDesk has no idempotency keys. When the answer to a create is lost, the object may exist; so the
caller names how to find it by its business key, and it is looked for before anything is sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..sevdesk.api import JsonObject
from ..sevdesk.errors import TransientError, UncertainWriteError
from .result import AMBIGUOUS_MATCH, SyncFailure

Finder = Callable[[], Awaitable[list[JsonObject]]]


def unique_match(found: list[JsonObject], what: str) -> JsonObject | None:
    """None for no match; a conflict for several (a human has to decide which one is ours)."""
    if len(found) > 1:
        ids = ", ".join(str(o.get("id")) for o in found[:5])
        raise SyncFailure(AMBIGUOUS_MATCH, f"several sevDesk objects match {what}: ids {ids}")
    return found[0] if found else None


async def create_or_recover(
    create: Callable[[], Awaitable[JsonObject]], find: Finder, what: str
) -> tuple[JsonObject, bool]:
    """Create once; after a lost answer, adopt the object if it exists, else retry later.

    Returns the object and whether it was recovered (found after a lost answer) rather than created.
    """
    try:
        return await create(), False
    except UncertainWriteError as exc:
        existing = unique_match(await find(), what)
        if existing is not None:
            return existing, True
        # Not visible (yet): sevDesk may still be processing it. Leave the intent in place and let
        # the retry look again rather than create a possible twin now.
        raise TransientError(
            f"the answer to creating {what} was lost and the object is not visible yet",
            method=exc.method,
            path=exc.path,
            status=exc.status,
        ) from None
