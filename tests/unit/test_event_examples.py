"""The example messages: one per event type, each accepted by the worker's parser and models as is."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from sevsync_events.envelope import envelope_type
from sevsync_events.examples import (
    INBOUND_EXAMPLES,
    OUTBOUND_EXAMPLES,
    UnknownExample,
    example,
    example_body,
)
from sevsync_events.json_schema import SCHEMA_DIR
from sevsync_events.registry import (
    INBOUND_EVENT_TYPES,
    OUTBOUND_EVENT_TYPES,
    OUTBOUND_PAYLOADS,
    parse_inbound,
)


def test_every_inbound_event_type_has_an_example_and_nothing_else_does() -> None:
    assert list(INBOUND_EXAMPLES) == list(INBOUND_EVENT_TYPES)


def test_every_outbound_event_type_has_an_example_and_nothing_else_does() -> None:
    assert list(OUTBOUND_EXAMPLES) == list(OUTBOUND_EVENT_TYPES)


def _dumped(model_json: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(model_json)
    return parsed


@pytest.mark.parametrize("event_type", INBOUND_EVENT_TYPES)
def test_inbound_example_passes_the_workers_parser_unchanged(event_type: str) -> None:
    event = parse_inbound(example_body(event_type))
    assert event.event_type == event_type
    # Dumped back, the event equals the example: every field is written out, nothing was normalised.
    assert _dumped(event.to_json_bytes()) == example(event_type)


@pytest.mark.parametrize("event_type", OUTBOUND_EVENT_TYPES)
def test_outbound_example_is_what_the_models_would_publish(event_type: str) -> None:
    model = envelope_type(OUTBOUND_PAYLOADS[event_type])
    event = model.model_validate_json(example_body(event_type))
    assert event.event_type == event_type
    assert _dumped(event.to_json_bytes()) == example(event_type)


@pytest.mark.parametrize("event_type", [*INBOUND_EVENT_TYPES, *OUTBOUND_EVENT_TYPES])
def test_example_matches_its_checked_in_json_schema(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(example(event_type))


def test_examples_have_distinct_event_ids() -> None:
    ids = [example(t)["event_id"] for t in (*INBOUND_EXAMPLES, *OUTBOUND_EXAMPLES)]
    assert len(set(ids)) == len(ids)


def test_example_is_a_copy_and_an_unknown_type_is_named() -> None:
    example("deal.won")["data"]["lines"].clear()
    assert example("deal.won")["data"]["lines"]
    with pytest.raises(UnknownExample, match=r"no example for event type 'deal\.postponed'; there are: "):
        example("deal.postponed")
