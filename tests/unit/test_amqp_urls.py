"""SEVSYNC_AMQP_URL as a comma-separated list of cluster nodes: parsed, each URL checked, and a bad
one named with its password masked."""

from __future__ import annotations

import os

import pytest
from aiormq.exceptions import AMQPConnectionError
from pydantic import ValidationError

from sevsync.cli.service_errors import describe_rabbitmq_failure
from sevsync.config import Settings
from sevsync_events.connection import NoNodeAnswered, split_amqp_urls

NODE1 = "amqp://u:pw1@node1:5672/"
NODE2 = "amqp://u:pw2@node2:5672/"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SEVSYNC_"):
            monkeypatch.delenv(name)


def test_one_url_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_AMQP_URL", NODE1)

    assert Settings().amqp_urls == [NODE1]


def test_several_urls_are_split_on_commas_and_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVSYNC_AMQP_URL", f" {NODE1} , {NODE2},")

    settings = Settings()

    assert settings.amqp_urls == [NODE1, NODE2]
    assert settings.amqp_url.get_secret_value() == f"{NODE1},{NODE2}"


@pytest.mark.parametrize(
    "bad",
    ["http://u:pw2@node2:5672/", "amqp://u:pw2@:5672/", "amqp://u:pw2@node2:port/", "node2:5672"],
)
def test_each_url_is_checked_and_named_masked(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("SEVSYNC_AMQP_URL", f"{NODE1},{bad}")

    with pytest.raises(ValidationError) as raised:
        Settings()

    message = str(raised.value)
    assert "not an AMQP URL" in message
    assert "pw2" not in message
    assert "pw1" not in message
    if "@" in bad:
        assert bad.replace("pw2", "***") in message


@pytest.mark.parametrize("blank", ["", " , ,"])
def test_no_url_at_all_is_refused(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("SEVSYNC_AMQP_URL", blank)

    with pytest.raises(ValidationError, match="at least one URL"):
        Settings()


def test_split_amqp_urls() -> None:
    assert split_amqp_urls(f"{NODE1},,{NODE2} ") == [NODE1, NODE2]
    assert split_amqp_urls([NODE2, " "]) == [NODE2]
    with pytest.raises(ValueError, match="no AMQP URL"):
        split_amqp_urls(" , ")


def test_no_node_answered_names_each_masked() -> None:
    failure = NoNodeAnswered([(NODE1, ConnectionRefusedError("refused")), (NODE2, TimeoutError())])

    assert str(failure) == (
        "no RabbitMQ node answered: amqp://u:***@node1:5672/: refused; amqp://u:***@node2:5672/: TimeoutError"
    )


def test_the_cli_line_names_each_node_masked() -> None:
    refused = AMQPConnectionError(111, "Connect call failed ('10.0.0.1', 5672)")
    failure = NoNodeAnswered([(NODE1, refused), (NODE2, refused)])

    line = describe_rabbitmq_failure(failure, f"{NODE1},{NODE2}")

    assert line == (
        "cannot reach any of 2 RabbitMQ nodes: amqp://u:***@node1:5672/: connection refused; "
        "amqp://u:***@node2:5672/: connection refused"
    )


def test_other_broker_errors_mask_every_node_of_the_list() -> None:
    from aiormq.exceptions import ConnectionClosed

    line = describe_rabbitmq_failure(ConnectionClosed(320, "shutdown"), f"{NODE1},{NODE2}")

    assert line is not None
    assert "pw1" not in line
    assert "pw2" not in line
    assert "amqp://u:***@node1:5672/,amqp://u:***@node2:5672/" in line
