"""What can go wrong when talking to sevDesk, one class per way the caller must react.

None of these ever carries the API token: messages are built from the method, the path, the HTTP
status and sevDesk's own error code and message only.
"""

from __future__ import annotations


class SevdeskError(Exception):
    """Base class. `code` and `sevdesk_message` are sevDesk's own error fields when it sent them."""

    def __init__(
        self,
        summary: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: int | None = None,
        sevdesk_message: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.sevdesk_message = sevdesk_message
        self.summary = summary
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = [f"{self.method} {self.path}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"sevDesk code {self.code}")
        text = ", ".join(parts) + f": {self.summary}"
        if self.sevdesk_message and self.sevdesk_message != self.summary:
            text += f" ({self.sevdesk_message})"
        return text


class TransientError(SevdeskError):
    """Worth trying again later: rate limited, sevDesk down, or a read that timed out.

    `retry_after` is sevDesk's `Retry-After` in seconds when it sent one.
    """

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)  # type: ignore[arg-type]


class PermanentError(SevdeskError):
    """sevDesk refused the request; sending it again unchanged gives the same answer."""


class NotFoundError(PermanentError):
    """The object does not exist (HTTP 404, sevDesk code 151)."""


class AuthError(SevdeskError):
    """The token was refused (HTTP 401/403): the tenant must reconnect."""


class UncertainWriteError(SevdeskError):
    """A write was sent but its answer was lost (timeout, dropped connection, 5xx).

    It may or may not have taken effect; never repeat it blindly (CONTRACT section 8): look for its
    effect by the write's business key first.
    """


class AnsweredWriteError(UncertainWriteError):
    """sevDesk answered a write with 500 or 503: the request has ended on sevDesk's side.

    A 500 may still have applied the write, so its effect is looked for first, as for any uncertain
    write; but nothing is left in flight, so when there is no effect the write may be sent again at
    once (within the in-process budget) instead of waiting for a late landing. Callers that do not
    know this class treat it as the uncertain write it also is.
    """

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)  # type: ignore[arg-type]


class UnexpectedResponseError(TransientError):
    """sevDesk answered with something that is not the JSON it documents (e.g. an HTML error page)."""
