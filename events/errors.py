"""Why an inbound message cannot be processed, told precisely but without echoing its content."""

from __future__ import annotations

from typing import Final, Literal
from uuid import UUID

from pydantic import ValidationError

__all__ = ["InvalidEvent", "InvalidReason", "format_validation_error"]

InvalidReason = Literal["malformed", "unknown_event_type"]

MAX_REPORTED_ERRORS: Final = 5
# Bounds on what a message can make us repeat: a key name or a pydantic message can quote input.
_MAX_LOC_PART: Final = 64
_MAX_MESSAGE: Final = 200


class InvalidEvent(Exception):
    """A delivery that is not processable as sent; the worker dead-letters it with `reason`.

    `event_id`, `tenant_id` and `event_type` are what could be read from the message, each one
    only if it was itself valid, so the dead-letter row can still be found by them.
    """

    def __init__(
        self,
        reason: InvalidReason,
        detail: str,
        *,
        event_id: UUID | None = None,
        tenant_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: InvalidReason = reason
        self.detail = detail
        self.event_id = event_id
        self.tenant_id = tenant_id
        self.event_type = event_type


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(error: ValidationError, *, max_errors: int = MAX_REPORTED_ERRORS) -> str:
    """`"data.lines.0.quantity: must be ...; data.date: ..."`, the first `max_errors` problems."""
    problems = error.errors(include_url=False, include_context=False, include_input=False)
    # pydantic also reports a list as too short when its only items were invalid; that echo of
    # the real problem (reported at the item) would only mislead.
    inner = {problem["loc"][:depth] for problem in problems for depth in range(len(problem["loc"]))}
    problems = [p for p in problems if not (p["type"] == "too_short" and p["loc"] in inner)]
    parts = []
    for problem in problems[:max_errors]:
        location = ".".join(_clip(str(part), _MAX_LOC_PART) for part in problem["loc"])
        message = _clip(problem["msg"], _MAX_MESSAGE)
        parts.append(f"{location}: {message}" if location else message)
    hidden = len(problems) - max_errors
    if hidden > 0:
        parts.append(f"and {hidden} more problem{'s' if hidden > 1 else ''}")
    return "; ".join(parts)
