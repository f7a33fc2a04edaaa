"""Schemathesis against the admin API's own OpenAPI document, on a real worker.

It reads the document the worker serves, generates requests that fit it (and, in negative mode,
requests that do not), sends them to the worker (real Postgres, RabbitMQ and the sandbox) and checks
every answer: never a 5xx, only documented statuses and content types, bodies that fit their schema,
and data the document calls invalid refused. Path parameters are partly pinned to a connected
tenant and an entity with history, so that the deep routes run their queries, not only their 404s.

Generated negative data rarely carries Postgres' own poison (a NUL, an integer beyond 64 bits) in a
request that is otherwise valid, so a second pass takes valid requests and spoils one value at a
time: every declared query and path parameter and every text or integer in a JSON body. Each must
be refused with 400 or 422 in one line, whatever route a new operation adds.

Bounded and repeatable: derandomised, no example database, a fixed number of examples per
operation and mode (EXAMPLES). Everything it reaches is local: the tenant's sevDesk is the sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import person, product
from .harness import add_tenant, envelope, publish, wait_for_dead_letters, wait_for_outcomes
from .test_admin_api import ADMIN_TOKEN, admin_api

# Per operation and mode (3 modes: pinned ids, free, negative). 25 keeps the run at ~750 requests,
# about 20 s on an idle laptop and well under a minute on a busy 2-core machine.
EXAMPLES = 25
# Positive data may still be refused for what the document cannot say (a token sevDesk refuses, a
# tenant that is not connected), so `positive_data_acceptance` is left out; the rest are the
# document's promises.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
KNOWN = {"tenant": "acme", "kind": "contacts", "entity_type": "customer", "entity_id": "cust-7"}
# Valid requests per operation that the spoiling pass starts from.
SPOILED_EXAMPLES = 3
# What Postgres cannot take: a NUL in text, a whole number beyond 64 bits.
NUL_TEXT = "a\x00b"
HUGE_NUMBER = 2**70


@pytest.mark.timeout(180)  # a hard cap; it takes a fraction of this (see EXAMPLES)
async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=151, message="Part number already assigned",
        method="POST", path="^/Part$", times=1,
    )  # fmt: skip
    applied = envelope("customer.created", person("cust-7"))
    refused = envelope("product.created", product())
    async with admin_api(settings) as (_, api):
        await publish(settings, applied, refused, b"{not json")
        await wait_for_outcomes(db, applied, refused)
        await wait_for_dead_letters(db, 2)
        # requests is synchronous: it runs in a thread while this loop serves the worker.
        await asyncio.to_thread(_fuzz, api.base)


def _fuzz(base: str) -> None:
    # Every case carries the token: negative cases spend themselves on the input, not on a missing
    # token (test_admin_api checks that every operation refuses a missing or wrong one).
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"bearer": {"bearer": ADMIN_TOKEN}}},
            "generation": {"with-security-parameters": False},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", config=config)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation schemathesis cannot read is a fault of the document
        operations.append(result.ok())
    # Disconnecting the known tenant goes last, so that the other operations still find it connected.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path))
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment between the test and 127.0.0.1
        for operation in operations:
            names = {parameter.name for parameter in operation.path_parameters}
            pinned = {name: value for name, value in KNOWN.items() if name in names}
            strategies = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned)]
            if pinned:
                strategies.append(operation.as_strategy(GenerationMode.POSITIVE))
            if len(operation.path_parameters) or len(operation.query) or len(operation.body):
                strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
            for strategy in strategies:
                _run(strategy, base, session)
            _spoil(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned), base, session)


def _run(strategy: st.SearchStrategy[Any], base: str, session: requests.Session) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(base_url=base, session=session, checks=CHECKS, timeout=30)

    check()


def _spoil(strategy: st.SearchStrategy[Any], base: str, session: requests.Session) -> None:
    @settings(
        max_examples=SPOILED_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case[Any]) -> None:
        for where, spoiled in _spoiled(case):
            response = spoiled.call(base_url=base, session=session)
            assert response.status_code in (400, 422), (where, response.status_code, response.text[:200])
            error = response.json()["error"]
            assert "\n" not in error, (where, error)

    check()


def _spoiled(case: schemathesis.Case[Any]) -> Iterator[tuple[str, schemathesis.Case[Any]]]:
    """Copies of a valid request, each with one value Postgres cannot take."""
    operation = case.operation
    for parameter in operation.query:
        yield (
            f"query {parameter.name}",
            case.derive(query={**case.query, parameter.name: NUL_TEXT}, keep_auth=True),
        )
    for parameter in operation.path_parameters:
        spoiled = case.derive(keep_auth=True)
        spoiled.path_parameters[parameter.name] = NUL_TEXT
        yield f"path {parameter.name}", spoiled
    if isinstance(case.body, dict):
        for key, value in case.body.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                continue
            spoiled = case.derive(keep_auth=True)
            assert isinstance(spoiled.body, dict)
            spoiled.body[key] = NUL_TEXT if isinstance(value, str) else HUGE_NUMBER
            yield f"body {key}", spoiled
