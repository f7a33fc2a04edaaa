"""The YAML writer of the AsyncAPI document: whatever it writes reads back as the same JSON data."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from ruamel.yaml import YAML

from sevsync_events.json_schema import SCHEMA_DIR
from sevsync_events.yaml_text import to_yaml

TRICKY_STRINGS = [
    "yes",
    "No",
    "on",
    "null",
    "~",
    "",
    " ",
    "-",
    "a-",
    "-1",
    "0.1.0",
    "1e3",
    ".inf",
    "0x1F",
    "#not a comment",
    "x: y",
    "a #b",
    "$ref",
    "#/components/schemas/Deal",
    "*alias",
    "&anchor",
    "!tag",
    "@at",
    "`tick`",
    "[flow]",
    "{flow}",
    "'single'",
    '"double"',
    "back\\slash",
    "line\nbreak",
    "tab\there",
    "bell\x07",
    "del\x7f",
    "nel\x85",
    "ls\u2028",
    "é ü ß",
    "💶",
    "^(?:0|7|19)(?:\\.0{1,4})?$",
]


def _read(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_a_string_stays_a_string(text: str) -> None:
    document = {"key": text, text or "empty": [text], "list": [{"k": text}]}
    assert _read(to_yaml(document)) == document


def test_nesting_empty_collections_and_scalars_read_back() -> None:
    document: dict[str, Any] = {
        "a": [[1, [2, {}]], {"b": [], "c": {"d": None}}, [], {}],
        "flags": [True, False, None, 0, -7, 2**63 - 1],
        "nested": {"deeper": {"deepest": ["x", {"y": ["z"]}]}},
    }
    assert _read(to_yaml(document)) == document


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda path: path.name)
def test_every_event_schema_reads_back(path: Any) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert _read(to_yaml(schema)) == schema


def test_only_json_values_are_written() -> None:
    with pytest.raises(TypeError, match="cannot write a float as YAML"):
        to_yaml({"price": 1.5})
    with pytest.raises(TypeError, match="cannot write a int key as YAML"):
        to_yaml({1: "one"})  # type: ignore[dict-item]
