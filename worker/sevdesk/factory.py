"""The sevDesk client as the `SEVSYNC_*` settings configure it, built here for the worker and every
command that calls sevDesk."""

from __future__ import annotations

from ..config import Settings
from .client import RetryPolicy, SevdeskClient


def client_from_settings(
    settings: Settings, *, retry: RetryPolicy | None = None, user_agent: str | None = None
) -> SevdeskClient:
    """A client with the configured URL and timeout; `retry` and `user_agent` replace the configured
    retries and user agent where a caller needs other ones."""
    configured = RetryPolicy(
        attempts=settings.sevdesk_retry_attempts, budget_seconds=settings.sevdesk_retry_budget
    )
    return SevdeskClient(
        settings.sevdesk_base_url,
        timeout=settings.sevdesk_timeout,
        retry=retry or configured,
        user_agent=settings.user_agent if user_agent is None else user_agent,
    )
