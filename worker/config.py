"""Runtime configuration, read from `SEVSYNC_*` environment variables (CONTRACT section 6)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .sync.document_urls import parse_prefixes

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sevsync"
DEFAULT_SEVDESK_URL = "https://my.sevdesk.de/api/v1"
DEFAULT_RETRY_DELAYS = "10s,1m,10m,1h"
# CONTRACT section 9 says 10 MB: decimal megabytes, which also stays below sevDesk's upload limits.
DEFAULT_MAX_DOCUMENT_BYTES = 10_000_000
MIN_ADMIN_TOKEN_LENGTH = 16

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> timedelta:
    """`"10s"`, `"1m"`, `"1h"`, `"250ms"` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 10s, 1m, 1h)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """A comma-separated list of durations (`"10s,1m,10m"`); empty parts are ignored."""
    return tuple(parse_duration(part.strip()) for part in text.split(",") if part.strip())


# The shortest SEVSYNC_RECONCILE_INTERVAL but 0 (off).
MIN_RECONCILE_INTERVAL: Final = timedelta(seconds=10)


class Settings(BaseSettings):
    """Everything the worker and the CLI need; one instance per process."""

    # Validation errors never echo a value: several of them are secrets.
    model_config = SettingsConfigDict(env_prefix="SEVSYNC_", extra="ignore", hide_input_in_errors=True)

    amqp_url: SecretStr = SecretStr(DEFAULT_AMQP_URL)
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    sevdesk_url: str = DEFAULT_SEVDESK_URL
    # Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
    secret_keys: SecretStr | None = None
    admin_token: SecretStr | None = None
    http_port: int = Field(default=8080, ge=0, le=65535)
    http_host: str = "0.0.0.0"  # noqa: S104 - a container's health endpoint must be reachable
    exchange: str = "crm.events"
    queue: str = "sevdesk-sync"
    out_exchange: str = "sevsync.out"
    # Deliveries the broker hands this process at once. More than `concurrency`, so that events
    # waiting for their entity or tenant do not leave processing slots idle.
    prefetch: int = Field(default=64, ge=1, le=10_000)
    concurrency: int = Field(
        default=32, ge=1, le=1_000, description="events processed at once (each holds a database connection)"
    )
    tenant_concurrency: int = Field(
        default=4, ge=1, le=1_000, description="events of one tenant processed at once in this process"
    )
    tenant_requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description="sevDesk requests per second and tenant in this process; unset: no limit",
    )
    retry_delays: Annotated[tuple[timedelta, ...], NoDecode] = Field(
        default_factory=lambda: tuple(parse_duration(d) for d in DEFAULT_RETRY_DELAYS.split(","))
    )
    log_level: str = "INFO"

    # sevDesk HTTP behaviour.
    sevdesk_timeout: float = Field(default=30.0, gt=0, description="seconds per request")
    sevdesk_retry_attempts: int = Field(default=4, ge=1, le=20, description="in-process tries per call")
    sevdesk_retry_budget: float = Field(
        default=20.0, ge=0, description="seconds the in-process retries of one call may wait in total"
    )
    user_agent: str = "sevsync/0.1 (CRM sync worker)"
    shutdown_timeout: float = Field(default=30.0, gt=0, description="seconds to finish in-flight events")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger messages are dead-lettered")
    write_settle_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long a create sent by a worker that died may still land in sevDesk; until then "
        "it is looked for, not sent again",
    )
    skipped_retention_days: int = Field(
        default=30,
        ge=1,
        le=36_500,
        description="days the body of an event skipped while its tenant did not sync is kept to be sent "
        "later; the worker deletes older ones daily",
    )
    max_document_bytes: int = Field(
        default=DEFAULT_MAX_DOCUMENT_BYTES,
        ge=1,
        description="largest document an invoice may carry, counted in decoded bytes",
    )
    # The urls a document may be fetched from; none: every url is refused (document_urls).
    document_url_prefixes: Annotated[tuple[str, ...], NoDecode] = ()
    # How often the worker reconciles every tenant that syncs (sevDesk's changes back to the CRM).
    reconcile_interval: Annotated[timedelta, NoDecode] = Field(
        default=timedelta(minutes=5), description="e.g. 5m; 0 turns the worker's own runs off"
    )
    reconcile_sweep_every: int = Field(
        default=12,
        ge=0,
        le=10_000,
        description="every this many runs of a kind also sweep for deletions and unmoved addresses; 0: "
        "only the first run",
    )
    requeue_delay: float = Field(
        default=2.0,
        ge=0,
        description="seconds before a delivery that failed unrecorded goes back to the queue",
    )

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp_urls(cls, value: SecretStr) -> SecretStr:
        # Several nodes of a cluster, comma-separated; each named with its password masked.
        from sevsync_events.connection import masked_url, split_amqp_urls

        try:
            urls = split_amqp_urls(value.get_secret_value())
        except ValueError:
            raise ValueError(
                "SEVSYNC_AMQP_URL needs at least one URL, e.g. amqp://guest:guest@127.0.0.1:5672/"
            ) from None
        for url in urls:
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - raises on a port that is no number
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("amqp", "amqps") or not parts.hostname:
                raise ValueError(
                    f"not an AMQP URL: {masked_url(url)} (expected amqp://user:password@host:port/)"
                )
        return SecretStr(",".join(urls))

    @property
    def amqp_urls(self) -> list[str]:
        """The node URLs of SEVSYNC_AMQP_URL (one, or several nodes of a cluster)."""
        return self.amqp_url.get_secret_value().split(",")

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _parse_retry_delays(cls, value: object) -> object:
        if isinstance(value, str):
            delays = parse_durations(value)
            if not delays:
                raise ValueError("SEVSYNC_RETRY_DELAYS needs at least one delay, e.g. 10s,1m,10m,1h")
            return delays
        return value

    @field_validator("reconcile_interval", mode="before")
    @classmethod
    def _parse_reconcile_interval(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value.strip())
        return value

    @field_validator("reconcile_interval")
    @classmethod
    def _check_reconcile_interval(cls, interval: timedelta) -> timedelta:
        # Each run costs sevDesk requests for every tenant: a typo such as "5s" for "5m" would flood it.
        if interval != timedelta(0) and interval < MIN_RECONCILE_INTERVAL:
            raise ValueError(
                f"SEVSYNC_RECONCILE_INTERVAL must be 0 (off) or at least {MIN_RECONCILE_INTERVAL.seconds} s"
            )
        return interval

    @field_validator("document_url_prefixes", mode="before")
    @classmethod
    def _parse_document_url_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            # A bad prefix fails the start, naming it (prefixes are no secrets).
            parse_prefixes(str(part) for part in value)
            return tuple(value)
        return value

    @field_validator("tenant_requests_per_second", mode="before")
    @classmethod
    def _blank_is_unlimited(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_token", mode="before")
    @classmethod
    def _check_admin_token(cls, value: object) -> object:
        # Blank means "not set" (no admin API); a short token is refused rather than guessable.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            if not text.strip():
                return None
            if len(text.strip()) < MIN_ADMIN_TOKEN_LENGTH:
                raise ValueError(f"the admin token needs at least {MIN_ADMIN_TOKEN_LENGTH} characters")
            return SecretStr(text.strip())
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

    @property
    def sevdesk_base_url(self) -> str:
        return self.sevdesk_url.rstrip("/")
