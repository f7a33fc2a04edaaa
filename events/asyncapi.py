"""The AsyncAPI 3.0 document of the broker contract, generated from the event models and checked in.

    python -m sevsync_events.asyncapi --write   # regenerate docs/asyncapi.yaml
    python -m sevsync_events.asyncapi --check   # exit 1 when the file is not what the models give

Written from sevsync's side: it receives what the CRM publishes on the inbound exchange and sends
its results on the outbound exchange. One channel per routing key, every message with the JSON
Schema of its whole body (the same as events/json_schema/) and its example from
`sevsync_events.examples`. The AsyncAPI project's parser validates the file (`make node-deps`,
tools/asyncapi-validate.mjs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .asyncapi_words import DEAD_LETTERS, INFO, SERVER, SUMMARIES, WORK_QUEUE
from .examples import example
from .json_schema import event_schema
from .registry import INBOUND_PAYLOADS, OUTBOUND_PAYLOADS
from .yaml_text import to_yaml

__all__ = [
    "ASYNCAPI_FILE",
    "CONTRACT_VERSION",
    "DEAD_EXCHANGE",
    "DEAD_QUEUE",
    "DELIVERY_LIMIT",
    "INBOUND_EXCHANGE",
    "OUTBOUND_EXCHANGE",
    "WORK_QUEUE_ARGUMENTS",
    "WORK_QUEUE_NAME",
    "asyncapi_document",
    "main",
    "render",
]

ASYNCAPI_FILE: Final = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
CONTRACT_VERSION: Final = "0.1.0"  # the package's version (pyproject.toml); a test keeps them equal

# The default names (CONTRACT section 1). The worker's own (sevsync.config, sevsync.broker) are not
# imported, since the contract package depends on nothing of the worker; a test compares them.
INBOUND_EXCHANGE: Final = "crm.events"
WORK_QUEUE_NAME: Final = "sevdesk-sync"
OUTBOUND_EXCHANGE: Final = "sevsync.out"
DEAD_EXCHANGE: Final = f"{WORK_QUEUE_NAME}.dlx"
DEAD_QUEUE: Final = f"{WORK_QUEUE_NAME}.dead"
DELIVERY_LIMIT: Final = 10
WORK_QUEUE_ARGUMENTS: Final[Mapping[str, str | int]] = {
    "x-queue-type": "quorum",
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": DEAD_EXCHANGE,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}

_AMQP_BINDING_VERSION: Final = "0.3.0"
_SCHEMAS_REF: Final = "#/components/schemas/"


# --- schemas --------------------------------------------------------------------------------------


def _asyncapi_schema(node: Any) -> Any:
    """A JSON Schema fragment as an AsyncAPI Schema Object, its `$defs` references into components.

    pydantic's `discriminator` is OpenAPI's (an object with a mapping); AsyncAPI's is a bare
    property name with other rules, so it is left out: the `oneOf` with its `const` still decides.
    """
    if isinstance(node, list):
        return [_asyncapi_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$schema", "$defs", "discriminator"):
            continue
        if key == "$ref":
            converted[key] = value.replace("#/$defs/", _SCHEMAS_REF)
        else:
            converted[key] = _asyncapi_schema(value)
    return converted


def _payloads() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each event type's payload schema, and the shared schemas they reference (by model name)."""
    payloads: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}
    for direction, catalogue in (("inbound", INBOUND_PAYLOADS), ("outbound", OUTBOUND_PAYLOADS)):
        for event_type, model in catalogue.items():
            schema = event_schema(event_type, model, direction=direction)
            for name, definition in schema.get("$defs", {}).items():
                converted = _asyncapi_schema(definition)
                if shared.setdefault(name, converted) != converted:
                    raise ValueError(f"two different schemas are named {name}: rename one model")
            payloads[event_type] = _asyncapi_schema(schema)
    return payloads, dict(sorted(shared.items()))


# --- messages, channels, operations ---------------------------------------------------------------


def _message(event_type: str, direction: str, payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": event_type,
        "title": event_type,
        "summary": SUMMARIES[event_type],
        "contentType": "application/json",
        "tags": [{"name": direction}],
        "payload": payload,
    }
    if event_type.startswith("sync."):
        message["correlationId"] = {
            "description": "The event_id of the inbound event this outcome is about.",
            "location": "$message.payload#/data/source_event_id",
        }
    message["examples"] = [
        {
            "name": event_type.replace(".", "-"),
            "summary": SUMMARIES[event_type],
            "payload": example(event_type),
        }
    ]
    return message


def _exchange(name: str, kind: str = "topic") -> dict[str, Any]:
    return {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}


def _routing_key_channel(event_type: str, exchange: str, description: str) -> dict[str, Any]:
    return {
        "address": event_type,
        "title": f"{event_type} on {exchange}",
        "description": description,
        "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": _exchange(exchange),
                "bindingVersion": _AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_channel(name: str, description: str, extension: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": name,
        "title": f"queue {name}",
        "description": description,
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in INBOUND_PAYLOADS},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": name,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": _AMQP_BINDING_VERSION,
                **extension,
            }
        },
    }


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for event_type in INBOUND_PAYLOADS:
        channels[f"inbound.{event_type}"] = _routing_key_channel(
            event_type,
            INBOUND_EXCHANGE,
            f"The CRM publishes {event_type} on {INBOUND_EXCHANGE} with publisher confirms and "
            f"`mandatory`; sevsync's work queue {WORK_QUEUE_NAME} is bound to this routing key.",
        )
    for event_type in OUTBOUND_PAYLOADS:
        channels[f"outbound.{event_type}"] = _routing_key_channel(
            event_type,
            OUTBOUND_EXCHANGE,
            f"sevsync publishes {event_type} on {OUTBOUND_EXCHANGE}; the CRM binds a queue of its own to "
            "the routing keys it wants. Delivered at least once: drop a repeated event_id.",
        )
    channels["work-queue"] = _queue_channel(
        WORK_QUEUE_NAME, WORK_QUEUE, {"x-queue-arguments": dict(WORK_QUEUE_ARGUMENTS)}
    )
    channels["dead-letters"] = _queue_channel(
        DEAD_QUEUE,
        DEAD_LETTERS,
        {
            "x-dead-letter-exchange": _exchange(DEAD_EXCHANGE, "fanout"),
            "x-queue-arguments": {"x-queue-type": "quorum"},
        },
    )
    return channels


def _operation(action: str, channel: str, messages: Sequence[str], summary: str) -> dict[str, Any]:
    bindings = {"ack": True} if action == "receive" else {"deliveryMode": 2, "mandatory": False}
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
        "bindings": {"amqp": {**bindings, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for event_type in INBOUND_PAYLOADS:
        operations[f"receive.{event_type}"] = _operation(
            "receive", f"inbound.{event_type}", [event_type], SUMMARIES[event_type]
        )
    for event_type in OUTBOUND_PAYLOADS:
        operations[f"send.{event_type}"] = _operation(
            "send", f"outbound.{event_type}", [event_type], SUMMARIES[event_type]
        )
    operations["receive.dead-letters"] = _operation(
        "receive",
        "dead-letters",
        list(INBOUND_PAYLOADS),
        "sevsync stores each dead letter in its dead_letter table for operators to replay or purge.",
    )
    return operations


# --- the document ---------------------------------------------------------------------------------


def asyncapi_document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0.0 document, as JSON-shaped data."""
    payloads, shared = _payloads()
    messages = {
        event_type: _message(event_type, direction, payloads[event_type])
        for direction, catalogue in (("inbound", INBOUND_PAYLOADS), ("outbound", OUTBOUND_PAYLOADS))
        for event_type in catalogue
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "sevsync broker contract", "version": CONTRACT_VERSION, "description": INFO},
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "{host}:{port}",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": SERVER,
                "variables": {
                    "host": {"default": "localhost", "description": "The broker's host name."},
                    "port": {"default": "5672", "description": "The broker's AMQP port."},
                },
                "security": [{"$ref": "#/components/securitySchemes/broker-login"}],
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {
            "messages": messages,
            "schemas": shared,
            "securitySchemes": {
                "broker-login": {"type": "userPassword", "description": "The user and password of the URL."}
            },
        },
    }


def render() -> str:
    """The document as the checked-in YAML text."""
    header = (
        "# Generated by `python -m sevsync_events.asyncapi --write` from the event models; do not edit.\n"
    )
    return header + to_yaml(asyncapi_document())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sevsync_events.asyncapi",
        description="Generate or check the AsyncAPI document of the sevsync broker contract.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the file")
    mode.add_argument("--check", action="store_true", help="exit 1 if the file is missing or stale")
    parser.add_argument("--file", type=Path, default=ASYNCAPI_FILE, help=f"the document [{ASYNCAPI_FILE}]")
    args = parser.parse_args(argv)
    path: Path = args.file
    expected = render()
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if args.write:
        if current != expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected, encoding="utf-8")
        print(f"{path} is up to date" if current == expected else f"wrote {path}")
        return 0
    if current == expected:
        return 0
    print(f"{'missing' if current is None else 'stale'}: {path}", file=sys.stderr)
    print("run: python -m sevsync_events.asyncapi --write (or make asyncapi)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
