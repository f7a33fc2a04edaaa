"""JSON Schema files for every event type, generated from the models and checked in.

    python -m sevsync_events.json_schema --write   # regenerate events/json_schema/*.json
    python -m sevsync_events.json_schema --check   # exit 1 when a file is stale, missing or extra

The files are what a CRM team (in any language) validates its events against; the models stay
the single source, and the check keeps the two from drifting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .envelope import envelope_type
from .payloads import Payload
from .registry import INBOUND_PAYLOADS, OUTBOUND_PAYLOADS

__all__ = ["SCHEMA_DIR", "check", "event_schema", "main", "render", "schema_files", "write"]

SCHEMA_DIR: Final = Path(__file__).with_name("json_schema")
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def event_schema(event_type: str, model: type[Payload], *, direction: str) -> dict[str, Any]:
    """The schema of a whole event (envelope and `data`) of one type."""
    schema = envelope_type(model).model_json_schema(mode="validation")
    schema["$schema"] = _DIALECT
    schema["title"] = event_type
    schema["description"] = (
        f"{direction.capitalize()} sevsync event '{event_type}': "
        f"the envelope with a {model.__name__} as data."
    )
    # The generic envelope allows any type; this file is about exactly one.
    schema["properties"]["event_type"] = {
        "const": event_type,
        "description": "Also the routing key.",
        "type": "string",
    }
    return schema


def render(schema: Mapping[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def schema_files() -> dict[str, str]:
    """File name -> content, for every inbound and outbound event type."""
    files: dict[str, str] = {}
    for direction, catalogue in (("inbound", INBOUND_PAYLOADS), ("outbound", OUTBOUND_PAYLOADS)):
        for event_type, model in catalogue.items():
            files[f"{event_type}.json"] = render(event_schema(event_type, model, direction=direction))
    return files


def check(directory: Path = SCHEMA_DIR) -> list[str]:
    """What differs between `directory` and freshly generated files; empty when up to date."""
    expected = schema_files()
    present = {path.name for path in directory.glob("*.json")} if directory.is_dir() else set()
    problems = []
    for name, content in sorted(expected.items()):
        if name not in present:
            problems.append(f"missing: {name}")
        elif (directory / name).read_text(encoding="utf-8") != content:
            problems.append(f"stale: {name}")
    problems.extend(f"extra: {name}" for name in sorted(present - expected.keys()))
    return problems


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    """Bring `directory` up to date; returns what was changed, like `check` reports it."""
    changes = check(directory)
    directory.mkdir(parents=True, exist_ok=True)
    expected = schema_files()
    for name, content in expected.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    # A file for an event type that no longer exists would keep promising it.
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sevsync_events.json_schema",
        description="Generate or check the JSON Schema files of the sevsync events.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the files")
    mode.add_argument("--check", action="store_true", help="exit 1 if any file is stale, missing or extra")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help=f"where the files live [{SCHEMA_DIR}]")
    args = parser.parse_args(argv)
    if args.write:
        changes = write(args.dir)
        for change in changes:
            print(f"updated ({change})")
        print(f"{len(schema_files())} schema files in {args.dir} are up to date")
        return 0
    problems = check(args.dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: python -m sevsync_events.json_schema --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
