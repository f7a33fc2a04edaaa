"""Every JSON example in the README and under docs/ is an event the models take.

Each ```json block is one envelope: an inbound one must pass the parser every delivery goes through
(`parse_inbound`), an outbound one the model of its type. The README shows one example of every
inbound event type, so a type added to the registry without an example fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sevsync_events.envelope import envelope_type
from sevsync_events.registry import INBOUND_EVENT_TYPES, OUTBOUND_PAYLOADS, parse_inbound
from tests.doc_pages import README, blocks, page_blocks, section, text

EXAMPLES = page_blocks("json")


def _event_type(example: str) -> str:
    document: Any = json.loads(example)
    assert isinstance(document, dict), "an example is one JSON object, an envelope"
    return str(document.get("event_type"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= len(INBOUND_EVENT_TYPES)


@pytest.mark.parametrize(("page", "example"), EXAMPLES, ids=[f"{p}:{_event_type(e)}" for p, e in EXAMPLES])
def test_an_example_is_an_event_the_models_take(page: str, example: str) -> None:
    event_type = _event_type(example)
    if event_type in OUTBOUND_PAYLOADS:
        envelope_type(OUTBOUND_PAYLOADS[event_type]).model_validate_json(example)
    else:
        # Raises InvalidEvent with the reason (malformed, unknown_event_type) for a broken example.
        event = parse_inbound(example.encode("utf-8"))
        assert event.event_type == event_type


def test_the_readme_shows_every_inbound_event_type_once() -> None:
    shown = [_event_type(e) for e in blocks(section(text(README), "Publish events"), "json")]
    assert sorted(shown) == sorted(INBOUND_EVENT_TYPES)


def test_the_examples_do_not_share_event_ids() -> None:
    # A reader who publishes several of them must not see the second skipped as a duplicate.
    ids = [json.loads(example)["event_id"] for _, example in EXAMPLES]
    assert len(ids) == len(set(ids))
