"""docs/asyncapi.yaml: current, complete, faithful to the worker's names, and its examples valid."""

from __future__ import annotations

import copy
import io
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from sevsync.broker.headers import DELIVERY_LIMIT
from sevsync.broker.topology import TopologyNames, work_queue_arguments
from sevsync.config import Settings
from sevsync_events.asyncapi import (
    ASYNCAPI_FILE,
    CONTRACT_VERSION,
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    INBOUND_EXCHANGE,
    OUTBOUND_EXCHANGE,
    WORK_QUEUE_ARGUMENTS,
    WORK_QUEUE_NAME,
    asyncapi_document,
    main,
    render,
)
from sevsync_events.asyncapi import DELIVERY_LIMIT as DOCUMENTED_DELIVERY_LIMIT
from sevsync_events.registry import INBOUND_EVENT_TYPES, OUTBOUND_EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_document_is_current() -> None:
    assert ASYNCAPI_FILE == ROOT / "docs" / "asyncapi.yaml"
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run `make asyncapi` (python -m sevsync_events.asyncapi --write)"
    )


def test_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "docs" / "asyncapi.yaml"
    assert main(["--check", "--file", str(target)]) == 1
    assert f"missing: {target}" in capsys.readouterr().err
    assert main(["--write", "--file", str(target)]) == 0
    assert main(["--check", "--file", str(target)]) == 0
    target.write_text(render().replace("sevsync.out", "crm.out"), encoding="utf-8")
    assert main(["--check", "--file", str(target)]) == 1
    assert "stale" in capsys.readouterr().err
    main(["--write", "--file", str(target)])
    assert target.read_text(encoding="utf-8") == render()


def test_the_yaml_text_reads_back_as_the_document() -> None:
    loaded = YAML(typ="safe", pure=True).load(io.StringIO(render()))
    assert loaded == asyncapi_document()


def test_every_event_type_has_a_channel_an_operation_and_a_message_with_payload_and_example() -> None:
    document = asyncapi_document()
    messages = document["components"]["messages"]
    assert list(messages) == [*INBOUND_EVENT_TYPES, *OUTBOUND_EVENT_TYPES]
    for event_type, direction, action in [
        *((t, "inbound", "receive") for t in INBOUND_EVENT_TYPES),
        *((t, "outbound", "send") for t in OUTBOUND_EVENT_TYPES),
    ]:
        channel = document["channels"][f"{direction}.{event_type}"]
        assert channel["address"] == event_type
        exchange = INBOUND_EXCHANGE if direction == "inbound" else OUTBOUND_EXCHANGE
        assert channel["bindings"]["amqp"]["exchange"] == {
            "name": exchange,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        }
        operation = document["operations"][f"{action}.{event_type}"]
        assert operation["action"] == action
        assert operation["channel"] == {"$ref": f"#/channels/{direction}.{event_type}"}
        message = messages[event_type]
        assert message["payload"]["properties"]["event_type"]["const"] == event_type
        assert message["examples"][0]["payload"]["event_type"] == event_type


def test_the_names_are_the_workers_defaults() -> None:
    # The defaults themselves, whatever SEVSYNC_* variables this test runs under.
    defaults = {name: Settings.model_fields[name].default for name in ("exchange", "queue", "out_exchange")}
    names = TopologyNames(**defaults)
    assert (
        names.exchange,
        names.queue,
        names.out_exchange,
    ) == (INBOUND_EXCHANGE, WORK_QUEUE_NAME, OUTBOUND_EXCHANGE)
    assert (names.dead_exchange, names.dead_queue) == (DEAD_EXCHANGE, DEAD_QUEUE)
    assert dict(WORK_QUEUE_ARGUMENTS) == work_queue_arguments(names)
    assert DOCUMENTED_DELIVERY_LIMIT == DELIVERY_LIMIT


def test_the_document_version_is_the_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == CONTRACT_VERSION


def _payload_validator(document: dict[str, Any], event_type: str) -> jsonschema.Draft7Validator:
    # The payload's references point into the document's components; AsyncAPI schemas are draft-07's.
    schema = {
        **document["components"]["messages"][event_type]["payload"],
        "components": document["components"],
    }
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("event_type", [*INBOUND_EVENT_TYPES, *OUTBOUND_EVENT_TYPES])
def test_each_example_in_the_document_fits_its_payload_schema(event_type: str) -> None:
    document = asyncapi_document()
    validator = _payload_validator(document, event_type)
    validator.validate(document["components"]["messages"][event_type]["examples"][0]["payload"])


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("deal.won", "discount", {"type": "percent", "value": "250.00"}),
        ("deal.won", "discount", {"type": "gift", "value": "5"}),
        ("payment.received", "amount", 2453.95),
        ("customer.created", "address", {"country": "XX"}),
        ("link.broken", "reason", "gone"),
    ],
)
def test_the_payload_schemas_refuse_a_bad_example(event_type: str, field: str, value: Any) -> None:
    document = asyncapi_document()
    example = copy.deepcopy(document["components"]["messages"][event_type]["examples"][0]["payload"])
    example["data"][field] = value
    assert not _payload_validator(document, event_type).is_valid(example)
