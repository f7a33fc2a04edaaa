"""Settings from `SEVSYNC_*` environment variables: defaults, durations, validation."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from pydantic import ValidationError

from sevsync.config import Settings, parse_duration


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SEVSYNC_* variable of the developer's shell or CI may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("SEVSYNC_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()

    assert settings.exchange == "crm.events"
    assert settings.queue == "sevdesk-sync"
    assert settings.out_exchange == "sevsync.out"
    assert settings.http_port == 8080
    assert settings.retry_delays == (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=10),
        timedelta(hours=1),
    )
    assert settings.log_level == "INFO"
    assert settings.sevdesk_base_url == "https://my.sevdesk.de/api/v1"
    assert settings.secret_keys is None
    assert settings.admin_token is None
    # Held deliveries exceed the events processed, so waiting ones do not leave slots idle.
    assert (settings.prefetch, settings.concurrency, settings.tenant_concurrency) == (64, 32, 4)
    assert settings.tenant_requests_per_second is None
    assert settings.skipped_retention_days == 30


def test_skipped_retention_comes_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_SKIPPED_RETENTION_DAYS", "7")
    assert Settings().skipped_retention_days == 7


@pytest.mark.parametrize(("value", "rate"), [("", None), ("  ", None), ("2.5", 2.5), ("0.2", 0.2)])
def test_a_tenant_request_rate_is_optional(
    monkeypatch: pytest.MonkeyPatch, value: str, rate: float | None
) -> None:
    monkeypatch.setenv("SEVSYNC_TENANT_REQUESTS_PER_SECOND", value)
    assert Settings().tenant_requests_per_second == rate


def test_values_come_from_sevsync_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_EXCHANGE", "crm.test")
    monkeypatch.setenv("SEVSYNC_QUEUE", "sync-test")
    monkeypatch.setenv("SEVSYNC_OUT_EXCHANGE", "out.test")
    monkeypatch.setenv("SEVSYNC_HTTP_PORT", "9090")
    monkeypatch.setenv("SEVSYNC_SEVDESK_URL", "http://127.0.0.1:8999/api/v1/")
    monkeypatch.setenv("SEVSYNC_PREFETCH", "4")
    monkeypatch.setenv("EXCHANGE", "without-the-prefix")  # not ours

    settings = Settings()

    assert (settings.exchange, settings.queue, settings.out_exchange) == ("crm.test", "sync-test", "out.test")
    assert settings.http_port == 9090
    assert settings.prefetch == 4
    assert settings.sevdesk_base_url == "http://127.0.0.1:8999/api/v1"  # trailing slash dropped


def test_retry_delays_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_RETRY_DELAYS", "1s,2s,5s")
    assert Settings().retry_delays == (timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=5))


def test_retry_delays_accept_every_unit_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_RETRY_DELAYS", " 250ms, 1.5m ,2h,30 ")
    assert Settings().retry_delays == (
        timedelta(milliseconds=250),
        timedelta(seconds=90),
        timedelta(hours=2),
        timedelta(seconds=30),
    )


@pytest.mark.parametrize("value", ["10x", "fast", "1s,soon", "-5s", "1 h 2", "1e3s", "", " , "])
def test_bad_retry_delays_are_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEVSYNC_RETRY_DELAYS", value)
    with pytest.raises(ValidationError, match="retry_delays"):
        Settings()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("1m", 60), ("10m", 600), ("1h", 3600), ("250ms", 0.25), ("7", 7), ("0.5s", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "s", "10 sec", "1d", "ten", "1,5s"])
def test_parse_duration_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("value", "level"), [("debug", "DEBUG"), ("Warning", "WARNING"), ("ERROR", "ERROR")])
def test_log_level_is_normalised(monkeypatch: pytest.MonkeyPatch, value: str, level: str) -> None:
    monkeypatch.setenv("SEVSYNC_LOG_LEVEL", value)
    assert Settings().log_level == level


@pytest.mark.parametrize("value", ["verbose", "TRACE", "warn", ""])
def test_unknown_log_level_is_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEVSYNC_LOG_LEVEL", value)
    with pytest.raises(ValidationError, match="log_level"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SEVSYNC_HTTP_PORT", "70000"),
        ("SEVSYNC_HTTP_PORT", "http"),
        ("SEVSYNC_PREFETCH", "0"),
        ("SEVSYNC_CONCURRENCY", "0"),
        ("SEVSYNC_TENANT_CONCURRENCY", "0"),
        ("SEVSYNC_TENANT_REQUESTS_PER_SECOND", "0"),
        ("SEVSYNC_TENANT_REQUESTS_PER_SECOND", "-3"),
        ("SEVSYNC_SEVDESK_TIMEOUT", "0"),
        ("SEVSYNC_SEVDESK_RETRY_ATTEMPTS", "0"),
        ("SEVSYNC_SEVDESK_RETRY_BUDGET", "-1"),
        ("SEVSYNC_SKIPPED_RETENTION_DAYS", "0"),
        ("SEVSYNC_SKIPPED_RETENTION_DAYS", "36501"),
        ("SEVSYNC_SKIPPED_RETENTION_DAYS", "a month"),
    ],
)
def test_out_of_range_numbers_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_secrets_are_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_AMQP_URL", "amqp://sync:hunter2-amqp@mq.internal:5672/")
    monkeypatch.setenv("SEVSYNC_DATABASE_URL", "postgresql://sync:hunter2-db@db.internal/sevsync")
    monkeypatch.setenv("SEVSYNC_SECRET_KEYS", "hunter2-keys")
    monkeypatch.setenv("SEVSYNC_ADMIN_TOKEN", "hunter2-admin-token-long-enough")

    settings = Settings()

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert settings.amqp_url.get_secret_value() == "amqp://sync:hunter2-amqp@mq.internal:5672/"
    assert settings.secret_keys is not None
    assert settings.secret_keys.get_secret_value() == "hunter2-keys"
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "hunter2-admin-token-long-enough"


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_admin_token_means_no_admin_surface(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEVSYNC_ADMIN_TOKEN", value)
    assert Settings().admin_token is None


def test_a_short_admin_token_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_ADMIN_TOKEN", "hunter2-short")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "at least 16 characters" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_documents_default_to_ten_megabytes_and_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.max_document_bytes, settings.document_url_prefixes) == (10_000_000, ())
    monkeypatch.setenv("SEVSYNC_MAX_DOCUMENT_BYTES", "2048")
    assert Settings().max_document_bytes == 2048


def test_document_url_prefixes_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SEVSYNC_DOCUMENT_URL_PREFIXES", " https://files.example/invoices/ ,, http://127.0.0.1:8000/docs"
    )
    assert Settings().document_url_prefixes == (
        "https://files.example/invoices/",
        "http://127.0.0.1:8000/docs",
    )


@pytest.mark.parametrize(
    "value", ["ftp://files.example/", "https://files.example/?signed=1", "files.example", "https://"]
)
def test_a_bad_document_url_prefix_fails_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SEVSYNC_DOCUMENT_URL_PREFIXES", f"https://ok.example/, {value}")
    with pytest.raises(ValidationError, match="document_url_prefixes") as info:
        Settings()
    assert f"document url prefix {value!r}" in str(info.value)


def test_the_document_limit_is_at_least_one_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_MAX_DOCUMENT_BYTES", "0")
    with pytest.raises(ValidationError, match="max_document_bytes"):
        Settings()


@pytest.mark.parametrize(
    ("value", "interval"), [("5m", timedelta(minutes=5)), ("90", timedelta(seconds=90)), ("0", timedelta(0))]
)
def test_the_reconcile_interval_is_a_duration_and_0_is_off(
    monkeypatch: pytest.MonkeyPatch, value: str, interval: timedelta
) -> None:
    monkeypatch.setenv("SEVSYNC_RECONCILE_INTERVAL", value)
    settings = Settings()
    assert settings.reconcile_interval == interval
    assert bool(settings.reconcile_interval) is (value != "0")


def test_reconcile_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().reconcile_interval, Settings().reconcile_sweep_every) == (timedelta(minutes=5), 12)
    monkeypatch.setenv("SEVSYNC_RECONCILE_INTERVAL", "soon")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("value", ["5s", "9", "250ms"])
def test_a_reconcile_interval_below_10_s_is_refused_unless_0(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SEVSYNC_RECONCILE_INTERVAL", value)
    with pytest.raises(ValidationError, match="0 \\(off\\) or at least 10 s"):
        Settings()
    monkeypatch.setenv("SEVSYNC_RECONCILE_INTERVAL", "10s")
    assert Settings().reconcile_interval == timedelta(seconds=10)
