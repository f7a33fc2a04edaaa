"""Creates that are never repeated blindly (CONTRACT section 8).

sevDesk has no idempotency keys. When a create fails without a clear refusal, the object may exist;
so the caller names how to find it by its business key, and it is looked for before anything is
sent again. What happens next depends on the failure:

- sevDesk answered 500 or 503: the request has ended there, so the intent is marked settled at once
  (the next attempt on the ladder need not wait for a late landing, even if the look fails). Found:
  adopted. Not found: written again at once, within the client's in-process budget.
- no answer (a timeout, a dropped connection, 502/504): the create may still land. Found: adopted.
  Not found: the event waits on the ladder and looks again (see SyncContext.begin_create).

A key sevsync made up itself (a customer number drawn from sevDesk's sequence, an invoice marker) may
be held by someone else's object; such an object is never adopted: only one whose identifying fields
are the ones sevsync sent is (see ownership).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..outcome_words import AMBIGUOUS_MATCH
from ..sevdesk.errors import AnsweredWriteError, UncertainWriteError
from ..sevdesk.objects import JsonObject
from ..sevdesk.rewrites import RewriteBudget
from .context import PendingCreate, SyncContext
from .ownership import Identity
from .result import SyncFailure

Finder = Callable[[], Awaitable[list[JsonObject]]]


class KeyTaken(Exception):
    """Objects hold a key sevsync made up, and none of them is the one sevsync created."""

    def __init__(self, pending: PendingCreate, holders: list[JsonObject]) -> None:
        self.pending = pending
        self.holder_ids = [str(o.get("id")) for o in holders]
        super().__init__(
            f"{pending.business_key} is held by sevDesk {pending.sevdesk_object} "
            f"{', '.join(self.holder_ids)}, which sevsync did not create"
        )


def unique_match(found: list[JsonObject], what: str) -> JsonObject | None:
    """None for no match; a conflict for several (a human has to decide which one is ours)."""
    if len(found) > 1:
        ids = ", ".join(str(o.get("id")) for o in found[:5])
        raise SyncFailure(AMBIGUOUS_MATCH, f"several sevDesk objects match {what}: ids {ids}")
    return found[0] if found else None


def own_match(
    found: list[JsonObject], sent_fingerprints: tuple[str, ...] | None, identity: Identity | None, what: str
) -> JsonObject | None:
    """The object among `found` that is the create's; None if none is.

    Without an identity the key names the entity by itself (a key the CRM owns): any holder is it.
    With one, only a holder whose identifying fields are the ones sent is, whoever else holds the key.
    """
    if identity is None or not found:
        return unique_match(found, what)
    if sent_fingerprints is None:
        raise SyncFailure(
            AMBIGUOUS_MATCH,
            f"sevsync cannot tell whether the sevDesk object holding {what} is the one it created "
            "(its intent was recorded by an older sevsync version); link or clear the entity by hand",
        )
    return unique_match(identity.sent_by_sevsync(found, sent_fingerprints), what)


async def create_or_recover(
    ctx: SyncContext,
    pending: PendingCreate,
    create: Callable[[], Awaitable[JsonObject]],
    find: Finder,
    what: str,
    *,
    identity: Identity | None = None,
) -> tuple[JsonObject, bool]:
    """Create once; after a failure without a refusal, adopt the created object if it exists.

    Returns the object and whether it was recovered (found after a failure) rather than created.
    `identity` makes the key one sevsync made up: a holder that is not provably the pending create's
    raises KeyTaken once sevDesk has answered (the caller gives the key up).
    """
    rewrites = RewriteBudget(ctx.api.retry_policy)
    while True:
        try:
            return await create(), False
        except UncertainWriteError as failure:
            if isinstance(failure, AnsweredWriteError):
                # Ended on sevDesk's side: nothing of it is in flight, even if the look below fails.
                await ctx.settle(pending)
            found = await find()
            sent = (pending.sent_fingerprint,) if pending.sent_fingerprint is not None else None
            existing = own_match(found, sent, identity, what)
            if existing is not None:
                return existing, True
            if not isinstance(failure, AnsweredWriteError):
                # Not visible (yet): sevDesk may still be processing it. Leave the intent in place and
                # let the retry look again rather than create a possible twin now.
                seen = "the object is not visible yet" if not found else "only others' objects hold its key"
                raise UncertainWriteError(
                    f"the answer to creating {what} was lost and {seen}",
                    method=failure.method,
                    path=failure.path,
                    status=failure.status,
                ) from None
            if found:
                raise KeyTaken(pending, found) from None
            if not await rewrites.another_write(failure):
                raise
            await ctx.resending(pending)
