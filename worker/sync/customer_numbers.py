"""Customer numbers sevsync draws from sevDesk's sequence for customers the CRM sent none for.

sevDesk reserves a number only by the create that uses it, and people in the sevDesk UI draw from the
same sequence. So numbers are drawn one at a time per tenant (the caller holds NUMBER_LOCK), each is
checked free, and a number someone else's contact took is given up for good (CONTRACT section 8).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..sevdesk.errors import TransientError

if TYPE_CHECKING:
    # For the annotation only: the number format stays importable without the store and HTTP stack.
    from .context import SyncContext

NUMBER_LOCK = "customer-number"
CONTACT = "Contact"
NEXT_NUMBER_PATH = "/Contact/Factory/getNextCustomerNumber"
# How many numbers past a given-up one sevDesk offers again are tried (each checked free in sevDesk).
MAX_STEPS = 20
_LAST_DIGITS = re.compile(r"(\d+)(\D*)$")


def following_number(number: str) -> str | None:
    """The number after `number` in its own format ("K-0099" -> "K-0100"); None without digits."""
    match = _LAST_DIGITS.search(number)
    if match is None:
        return None
    digits = match.group(1)
    following = str(int(digits) + 1).zfill(len(digits))
    return number[: match.start(1)] + following + match.group(2)


async def allocate(ctx: SyncContext) -> str:
    """The next free customer number of sevDesk's sequence that sevsync has not given up.

    sevDesk offers a number sevsync gave up again when the contact that took it was renumbered or
    deleted and the sequence was not moved past it (e.g. the number had been typed in by hand). Such
    a number is stepped over, as are the taken ones after it.
    """
    api = ctx.api
    offered = await api.next_customer_number()
    if not await ctx.given_up(CONTACT, [offered]):
        if not await api.customer_number_available(offered):
            raise TransientError(
                f"sevDesk offered customer number {offered}, which is already taken",
                method="GET",
                path=NEXT_NUMBER_PATH,
            )
        return offered
    candidates = _following_numbers(offered, MAX_STEPS)
    given_up = await ctx.given_up(CONTACT, candidates)
    for candidate in candidates:
        if candidate not in given_up and await api.customer_number_available(candidate):
            return candidate
    raise TransientError(
        f"sevDesk offers customer number {offered}, which sevsync gave up because another contact took it, "
        f"and no free number follows within {MAX_STEPS}; set the next customer number in sevDesk past it",
        method="GET",
        path=NEXT_NUMBER_PATH,
    )


def _following_numbers(number: str, count: int) -> list[str]:
    numbers: list[str] = []
    current = number
    for _ in range(count):
        following = following_number(current)
        if following is None:
            break
        numbers.append(following)
        current = following
    return numbers
