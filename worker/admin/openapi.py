"""The OpenAPI 3.1 document of the admin API, made from its operation table and pydantic models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from .edge import BIGINT_MAX, BIGINT_MIN, TEXT_PATTERN
from .models import ErrorBody

if TYPE_CHECKING:
    from .api.operation import Operation

REF_TEMPLATE = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    202: "Accepted: started",
    400: "Bad URL: a malformed or unknown parameter",
    401: "Missing or wrong bearer token",
    404: "Not found",
    409: "Conflict",
    422: "Invalid request",
    502: "The broker did not take the messages",
}


def openapi_document(operations: Iterable[Operation], prefix: str) -> dict[str, Any]:
    operations = list(operations)
    models = _models(operations)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE)
    names = {model: refs[(model, "validation")]["$ref"].rsplit("/", 1)[1] for model in models}

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = _operation_entry(op, names)
    schemas = defs.get("$defs", {})
    for model in {op.request for op in operations if op.request is not None}:
        _storable_defs(schemas, names[model])

    paths[f"{prefix}/openapi.json"] = _this_document()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sevsync admin API",
            "version": __version__,
            "description": "Operate sevsync: tenants, imports, dead letters, entity outcomes. "
            "Every operation but this document needs `Authorization: Bearer <SEVSYNC_ADMIN_TOKEN>`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _this_document() -> dict[str, Any]:
    """The path of the document itself, the one operation without a bearer token."""
    return {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }


def _operation_entry(op: Operation, names: dict[type[BaseModel], str]) -> dict[str, Any]:
    """One operation of the document: its responses, parameters and request body."""
    entry: dict[str, Any] = {
        "operationId": op.handler.__name__,
        "summary": op.summary,
        "security": [{"bearer": []}],
        "responses": {
            str(status): _response(status, names.get(model) if model else None)
            for status, model in sorted(_with_common_errors(op).items())
        },
    }
    if op.parameters:
        entry["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "schema": _storable(p.schema),
                **({"description": p.description} if p.description else {}),
                **({"style": "form", "explode": True} if p.schema.get("type") == "array" else {}),
            }
            for p in op.parameters
        ]
    if op.request is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=names[op.request])}}
            },
        }
    return entry


def _with_common_errors(op: Operation) -> dict[int, type[BaseModel] | None]:
    """Every operation may answer 401, and 400 for a bad URL (a malformed or unknown parameter, a NUL);
    one with a body also 422 (an invalid one)."""
    common: dict[int, type[BaseModel] | None] = {400: ErrorBody, 401: ErrorBody}
    if op.request is not None:
        common[422] = ErrorBody
    return {**common, **op.responses}


def _storable(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a request schema with the limits edge.py enforces on every string and integer in it:
    no NUL in a text or a map key, an integer within a bigint. References are left as they are."""
    copy = dict(schema)
    types = copy.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    if "string" in kinds and not {"pattern", "enum", "const"} & copy.keys():
        copy["pattern"] = TEXT_PATTERN
    if "integer" in kinds:
        copy["minimum"] = max(copy.get("minimum", BIGINT_MIN), BIGINT_MIN)
        copy["maximum"] = min(copy.get("maximum", BIGINT_MAX), BIGINT_MAX)
    if isinstance(copy.get("additionalProperties"), dict):
        copy["additionalProperties"] = _storable(copy["additionalProperties"])
        copy.setdefault("propertyNames", {"pattern": TEXT_PATTERN})
    if isinstance(copy.get("items"), dict):
        copy["items"] = _storable(copy["items"])
    if isinstance(copy.get("properties"), dict):
        copy["properties"] = {name: _storable(sub) for name, sub in copy["properties"].items()}
    for combinator in ("anyOf", "oneOf", "allOf"):
        if isinstance(copy.get(combinator), list):
            copy[combinator] = [_storable(sub) for sub in copy[combinator]]
    return copy


def _storable_defs(schemas: dict[str, Any], name: str) -> None:
    """Apply `_storable` to a request model's component and to every component it refers to."""
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen or current not in schemas:
            continue
        seen.add(current)
        schemas[current] = _storable(schemas[current])
        pending += [ref.rsplit("/", 1)[1] for ref in _refs(schemas[current])]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _models(operations: list[Operation]) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}
    for op in operations:
        for model in (op.request, *op.responses.values()):
            if model is not None:
                found[model] = None
    found[ErrorBody] = None
    return list(found)


def _response(status: int, schema_name: str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "")}
    if schema_name is not None:
        response["content"] = {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=schema_name)}}
        }
    return response
