"""The admin HTTP API of `sevsync worker`: bearer auth, every operation, and its OpenAPI document.

A real worker serves it (real RabbitMQ, Postgres and the sandbox); answers are checked against the
schemas of the document the API serves, so the document cannot drift from what the API does.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from pydantic import SecretStr

from sevsync.app import Worker
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import person, product
from .harness import (
    add_tenant,
    envelope,
    new_token,
    outbound_listener,
    publish,
    running_worker,
    wait_for_dead_letters,
    wait_for_first_outcome,
    wait_for_outcomes,
    wait_until,
)

ADMIN_TOKEN = "admin-" + "k7Qw9" * 6
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Api:
    """Calls the worker's admin API and checks every answer against the served OpenAPI document."""

    def __init__(self, session: aiohttp.ClientSession, base: str, document: dict[str, Any]) -> None:
        self.session = session
        self.base = base
        self.document = document

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        async with self.session.request(
            method, self.base + path, json=json, params=params, headers=AUTH if headers is None else headers
        ) as response:
            body = await response.json()
            assert response.status == expect, body
        if headers is None:
            self.check_schema(method, path, expect, body)
        return body

    def check_schema(self, method: str, path: str, status: int, body: Any) -> None:
        operation = self._operation(method, path)
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {path}: status {status} is not documented"
        schema = response["content"]["application/json"]["schema"]
        # The document itself is the root, so "#/components/schemas/..." references resolve.
        jsonschema.validate(body, {**self.document, **schema})

    def _operation(self, method: str, path: str) -> dict[str, Any]:
        import re

        concrete = path.split("?")[0]
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, concrete) and method.lower() in item:
                return dict(item[method.lower()])
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def with_admin(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


@asynccontextmanager
async def admin_api(settings: Settings) -> AsyncIterator[tuple[Worker, Api]]:
    async with running_worker(with_admin(settings)) as worker, aiohttp.ClientSession() as session:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        async with session.get(f"{base}/api/v1/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
        yield worker, Api(session, base, document)


async def test_without_an_admin_token_only_health_and_metrics_are_served(settings: Settings) -> None:
    async with running_worker(settings) as worker, aiohttp.ClientSession() as session:
        assert worker.http is not None
        base = f"http://127.0.0.1:{worker.http.port}"
        for path in ("/api/v1/tenants", "/api/v1/openapi.json", "/api/v1/dead-letters"):
            async with session.get(base + path, headers=AUTH) as response:
                assert response.status == 404, path
        for path in ("/healthz", "/readyz", "/metrics"):
            async with session.get(base + path) as response:
                assert response.status == 200, path


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token-of-some-length",
        f"Basic {ADMIN_TOKEN}",
        f"Bearer {ADMIN_TOKEN}x",
    ],
)
async def test_every_operation_refuses_a_missing_or_wrong_token(
    settings: Settings, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with admin_api(settings) as (_, api):
        for path, item in api.document["paths"].items():
            if path.endswith("/openapi.json"):
                continue
            concrete = (
                path.replace("{tenant}", "acme")
                .replace("{kind}", "contacts")
                .replace("{entity_type}", "customer")
                .replace("{entity_id}", "c-1")
            )
            for method in item:
                body = await api.call(method.upper(), concrete, headers=headers, json={}, expect=401)
                assert body == {"error": "missing or wrong bearer token"}
        async with api.session.get(f"{api.base}/healthz") as response:
            assert response.status == 200


async def test_the_openapi_document_is_valid_and_matches_the_routes(settings: Settings) -> None:
    async with admin_api(settings) as (worker, api):
        validate_openapi(api.document)
        assert worker.http is not None
        served = {
            (route.method.lower(), route.resource.canonical)
            for route in worker.http._runner.app.router.routes()
            # aiohttp answers HEAD for every GET by itself.
            if route.resource is not None
            and route.resource.canonical.startswith("/api/")
            and route.method != "HEAD"
        }
    documented = {(method, path) for path, item in api.document["paths"].items() for method in item}
    assert served == documented
    for path, item in api.document["paths"].items():
        for method, operation in item.items():
            if path.endswith("/openapi.json"):
                continue
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


async def test_connect_settings_show_and_disconnect(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    async with admin_api(settings) as (_, api):
        refused = await api.call(
            "PUT", "/api/v1/tenants/acme/connection", json={"token": new_token()}, expect=422
        )
        assert "refused the token" in refused["error"]
        assert await db.fetchval("SELECT count(*) FROM sevsync.tenant_integration") == 0

        connected = await api.call("PUT", "/api/v1/tenants/acme/connection", json={"token": token})
        assert connected["tenant"]["status"] == "connected"
        assert connected["tenant"]["token_stored"] is True
        assert connected["tenant"]["enabled"] is False
        assert connected["resumed_parked_events"] == 0

        changed = await api.call(
            "PATCH",
            "/api/v1/tenants/acme/settings",
            json={"enabled": True, "small_business": True, "units": {"hour": "2"}, "voucher_due_days": 30},
        )
        assert changed["enabled"] is True
        assert changed["settings"]["small_business"] is True
        assert changed["settings"]["units"] == {"hour": "2"}
        assert changed["settings"]["voucher_due_days"] == 30
        # Only what is given changes.
        again = await api.call("PATCH", "/api/v1/tenants/acme/settings", json={"auto_sync_products": False})
        assert again["settings"]["small_business"] is True
        assert again["settings"]["auto_sync_products"] is False

        bad = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"voucher_due_days": -1}, expect=422
        )
        assert bad["error"].startswith("voucher_due_days:")
        typo = await api.call("PATCH", "/api/v1/tenants/acme/settings", json={"enabeld": True}, expect=422)
        assert typo["error"].startswith("enabeld:")
        await api.call("PATCH", "/api/v1/tenants/nobody/settings", json={"enabled": True}, expect=404)
        await api.call("GET", "/api/v1/tenants/bad%20id", expect=400)

        shown = await api.call("GET", "/api/v1/tenants/acme")
        assert shown["tenant_id"] == "acme"
        listed = await api.call("GET", "/api/v1/tenants")
        assert [t["tenant_id"] for t in listed["tenants"]] == ["acme"]
        assert listed["tenants"][0]["integration_status"] == "connected"

        gone = await api.call("DELETE", "/api/v1/tenants/acme/connection")
        assert (gone["status"], gone["token_stored"]) == ("disconnected", False)
        await api.call("DELETE", "/api/v1/tenants/nobody/connection", expect=404)
        await api.call("GET", "/api/v1/tenants/nobody", expect=404)

        everything = str([refused, connected, changed, again, shown, listed, gone])
    assert token not in everything


async def test_an_operator_switches_the_learned_delivery_date_rule(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, delivery_date_in_head_text=True)
    async with admin_api(settings) as (_, api):
        shown = await api.call("GET", "/api/v1/tenants/acme")
        off = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"delivery_date_in_head_text": False}
        )
        bad = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"delivery_date_in_head_text": "ja"}, expect=422
        )

    assert shown["settings"]["delivery_date_in_head_text"] is True
    assert off["settings"]["delivery_date_in_head_text"] is False
    assert bad["error"].startswith("delivery_date_in_head_text:")


async def test_einvoice_settings_are_changed_and_malformed_ids_refused(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox, payment_methods={"cash": "21921"})
    async with admin_api(settings) as (_, api):
        changed = await api.call(
            "PATCH",
            "/api/v1/tenants/acme/settings",
            json={
                "e_invoice": "customers",
                "payment_methods": {"card": "21920"},
                "default_payment_method": "21919",
            },
        )
        bad_id = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"payment_methods": {"card": "x1"}}, expect=422
        )
        bad_default = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"default_payment_method": "21919a"}, expect=422
        )
        bad_mode = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"e_invoice": "sometimes"}, expect=422
        )
        cleared = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"default_payment_method": None}
        )

    assert changed["settings"]["e_invoice"] == "customers"
    # A map given replaces the stored one.
    assert changed["settings"]["payment_methods"] == {"card": "21920"}
    assert changed["settings"]["default_payment_method"] == "21919"
    assert bad_id["error"] == "payment_methods.card: a sevDesk PaymentMethod id is a number, got 'x1'"
    assert bad_default["error"].startswith("default_payment_method: a sevDesk PaymentMethod id is a number")
    assert bad_mode["error"].startswith("e_invoice:")
    assert cleared["settings"]["default_payment_method"] is None
    assert cleared["settings"]["payment_methods"] == {"card": "21920"}


async def test_connecting_while_another_integration_is_active_is_refused(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = new_token()
    sandbox.sandbox.add_account(token)
    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, provider, status, enabled)"
        " VALUES ('acme', 'lexware', 'connected', true)"
    )
    async with admin_api(settings) as (_, api):
        refused = await api.call("PUT", "/api/v1/tenants/acme/connection", json={"token": token}, expect=409)
    assert "lexware" in refused["error"]
    [row] = await db.fetch("SELECT provider, token_encrypted FROM sevsync.tenant_integration")
    assert (row["provider"], row["token_encrypted"]) == ("lexware", None)


async def test_dead_letters_are_listed_and_replayed_with_the_cli_rules(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=151, message="Part number already assigned",
        method="POST", path="^/Part$", times=1,
    )  # fmt: skip
    event = envelope("product.created", product())
    async with admin_api(settings) as (_, api):
        await publish(settings, event)
        await wait_for_dead_letters(db, 1)

        listed = await api.call("GET", "/api/v1/dead-letters", params={"tenant": "acme"})
        [dead] = listed["dead_letters"]
        assert (dead["event_id"], dead["reason"]) == (event["event_id"], "sevdesk_rejected")
        assert "Part number already assigned" in dead["error"]
        assert "body" not in dead
        assert (await api.call("GET", "/api/v1/dead-letters", params={"reason": "malformed"}))[
            "dead_letters"
        ] == []
        await api.call("GET", "/api/v1/dead-letters", params={"limit": "0"}, expect=400)
        await api.call("GET", "/api/v1/dead-letters", params={"event_id": "not-a-uuid"}, expect=400)

        unfiltered = await api.call("POST", "/api/v1/dead-letters/replay", json={}, expect=422)
        assert "all=true" in unfiltered["error"]
        await api.call("POST", "/api/v1/dead-letters/replay", json={"all": True, "limit": 0}, expect=422)
        dry = await api.call("POST", "/api/v1/dead-letters/replay", json={"all": True, "dry_run": True})
        assert (dry["replayed"], [d["event_id"] for d in dry["would_replay"]]) == (0, [event["event_id"]])

        done = await api.call(
            "POST", "/api/v1/dead-letters/replay", json={"event_ids": [event["event_id"]], "limit": 5}
        )
        assert (done["replayed"], done["still_open"]) == (1, 0)

        async def applied() -> bool:
            rows = await db.fetch(
                "SELECT status FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id",
                uuid.UUID(event["event_id"]),
            )
            return [r["status"] for r in rows] == ["failed", "succeeded"]

        await wait_until(applied, message="the replayed event succeeded")
        assert (await api.call("GET", "/api/v1/dead-letters"))["dead_letters"] == []
        replayed = await api.call("GET", "/api/v1/dead-letters", params={"include_replayed": "true"})
        assert replayed["dead_letters"][0]["replayed_at"] is not None
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1


async def test_malformed_dead_letters_are_refused_by_name_and_left_out_of_wider_replays(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    # The parser knows this one's event id and tenant, and refuses its data.
    malformed = envelope("customer.created", {"customer_id": ""})
    sandbox.sandbox.faults.add(
        kind="status", status=422, code=151, message="refused", method="POST", path="^/Part$", times=1
    )
    rejected = envelope("product.created", product())
    async with admin_api(settings) as (_, api):
        await publish(settings, malformed, rejected)
        await wait_for_dead_letters(db, 2)
        by_id = await api.call(
            "POST", "/api/v1/dead-letters/replay", json={"event_ids": [malformed["event_id"]]}, expect=409
        )
        by_reason = await api.call(
            "POST", "/api/v1/dead-letters/replay", json={"reason": "malformed"}, expect=409
        )
        dry = await api.call("POST", "/api/v1/dead-letters/replay", json={"tenant": "acme", "dry_run": True})
        done = await api.call("POST", "/api/v1/dead-letters/replay", json={"tenant": "acme"})
        await wait_for_first_outcome(db, rejected, "succeeded")

    assert f"event {malformed['event_id']}) is malformed" in by_id["error"]
    assert "the sender must send a corrected event" in by_reason["error"]
    assert ([d["event_id"] for d in dry["would_replay"]], dry["unreplayable"]) == ([rejected["event_id"]], 1)
    assert (done["replayed"], done["still_open"], done["unreplayable"]) == (1, 0, 1)
    open_reasons = await db.fetch("SELECT reason FROM sevsync.dead_letter WHERE replayed_at IS NULL")
    assert [row["reason"] for row in open_reasons] == ["malformed"]


async def test_one_entitys_outcomes_and_links(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    created = envelope("customer.created", person("cust-7"), version=1)
    updated = envelope("customer.updated", person("cust-7", email="new@example.com"), version=2)
    async with admin_api(settings) as (_, api):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await publish(settings, updated)
        await wait_for_outcomes(db, updated)

        entity = await api.call("GET", "/api/v1/tenants/acme/entities/customer/cust-7")
        assert [o["event_type"] for o in entity["outcomes"]] == ["customer.updated", "customer.created"]
        assert entity["current"]["event_id"] == updated["event_id"]
        [link] = entity["links"]
        assert (link["link_type"], link["sevdesk_object"], link["synced_version"]) == (
            "customer",
            "Contact",
            2,
        )
        assert link["sevdesk_number"]

        one = await api.call("GET", "/api/v1/tenants/acme/entities/customer/cust-7", params={"limit": "1"})
        assert len(one["outcomes"]) == 1
        await api.call("GET", "/api/v1/tenants/acme/entities/customer/nobody", expect=404)
        await api.call("GET", "/api/v1/tenants/acme/entities/planet/cust-7", expect=404)


async def test_metrics_count_by_type_and_outcome(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    event = envelope("customer.created", person("cust-metrics"))
    async with admin_api(settings) as (_, api):
        await publish(settings, event)
        await publish(settings, b"{not json")
        await wait_for_outcomes(db, event)
        await wait_for_dead_letters(db, 1)
        async with api.session.get(f"{api.base}/metrics") as response:
            text = await response.text()
        async with api.session.get(f"{api.base}/readyz") as response:
            assert response.status == 200

    def value(line_start: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(line_start)]
        assert lines, f"no metric {line_start}"
        return float(lines[0].rsplit(" ", 1)[1])

    assert value('sevsync_events_received_total{event_type="customer.created"}') >= 1
    assert value('sevsync_events_received_total{event_type="malformed"}') >= 1
    assert value('sevsync_deliveries_settled_total{decision="ack",event_type="customer.created"}') >= 1
    assert value('sevsync_outcomes_total{event_type="customer.created",reason="",status="succeeded"}') >= 1
    assert value('sevsync_outcomes_total{event_type="malformed",reason="malformed",status="dead"}') >= 1
    assert value('sevsync_handler_duration_seconds_count{event_type="customer.created"}') >= 1
    assert value('sevsync_sevdesk_calls_total{endpoint="POST /Contact",status="201"}') >= 1
    assert value("sevsync_events_in_flight") == 0
    assert value("sevsync_consumer_connected") == 1


async def test_an_import_started_through_the_api_runs_in_the_worker(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    for number in range(3):
        account.insert("Part", {"name": f"Imported {number}", "partNumber": f"IMP-{number}", "price": "10.00",
                                "taxRate": "19", "stock": "0", "status": "100"})  # fmt: skip
    async with admin_api(settings) as (_, api), outbound_listener(settings) as received:
        await api.call("POST", "/api/v1/tenants/acme/imports/planets", expect=404)
        await api.call("POST", "/api/v1/tenants/nobody/imports/parts", expect=409)
        started = await api.call("POST", "/api/v1/tenants/acme/imports/parts", expect=202)
        assert (started["tenant_id"], started["kind"]) == ("acme", "parts")

        async def finished() -> bool:
            status = await api.call("GET", "/api/v1/tenants/acme/imports/parts")
            return status["finished_at"] is not None and not status["running"]

        await wait_until(finished, message="the import finished")
        status = await api.call("GET", "/api/v1/tenants/acme/imports/parts")
        await wait_until(lambda: len(received) >= 3, message="three part.imported events")
    assert (status["imported"], status["error"]) == (3, None)
    assert sorted(m["data"]["sku"] for m in received if m["event_type"] == "part.imported") == [
        "IMP-0",
        "IMP-1",
        "IMP-2",
    ]


async def test_input_postgres_cannot_take_is_refused_with_one_line_before_the_database(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    await add_tenant(db, settings, sandbox)
    before = await db.fetchval("SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = 'acme'")
    async with admin_api(settings) as (_, api):
        refused = [
            # NUL in the query string, a path parameter, a body string, a map's key; 2**70 in a body.
            await api.call("GET", "/api/v1/dead-letters", params={"reason": "sevdesk\x00"}, expect=400),
            await api.call("GET", "/api/v1/tenants/acme/entities/customer/c%00-1", expect=400),
            await api.call(
                "PATCH", "/api/v1/tenants/acme/settings", json={"units": {"hour": "2\x00"}}, expect=422
            ),
            await api.call(
                "PATCH", "/api/v1/tenants/acme/settings", json={"units": {"h\x00": "2"}}, expect=422
            ),
            await api.call(
                "POST", "/api/v1/dead-letters/replay", json={"all": True, "limit": 2**70}, expect=422
            ),
            await api.call(
                "POST", "/api/v1/dead-letters/replay", json={"reason": "x\x00", "all": True}, expect=422
            ),
            await api.call(
                "POST", "/api/v1/dead-letters/replay", json={"all": True, "limit": 10**25}, expect=422
            ),
            # Only the JSON type the document gives; no null where a setting cannot be unset.
            await api.call("PATCH", "/api/v1/tenants/acme/settings", json={"enabled": "true"}, expect=422),
            await api.call("PATCH", "/api/v1/tenants/acme/settings", json={"units": None}, expect=422),
            # A parameter the operation does not take is a typo, not something to ignore.
            await api.call("GET", "/api/v1/dead-letters", params={"limt": "5"}, expect=400),
        ]
        # More digits than Python's int() takes by default.
        huge = b'{"all": true, "limit": 1' + b"0" * 5000 + b"}"
        async with api.session.post(f"{api.base}/api/v1/dead-letters/replay", data=huge, headers=AUTH) as r:
            assert r.status == 422
            refused.append(await r.json())
    messages = [body["error"] for body in refused]
    assert all("\n" not in message and len(message) < 200 for message in messages), messages
    assert messages[0] == "query parameter reason: must not contain a NUL character"
    assert messages[1] == "path parameter entity_id: must not contain a NUL character"
    assert messages[2] == "units.hour: must not contain a NUL character"
    assert messages[3] == "units.h\\x00: the name must not contain a NUL character"
    assert messages[4] == "limit: must be a whole number of at most 64 bits"
    assert messages[6] == messages[4]
    assert messages[7].startswith("enabled:")
    assert messages[8] == "units: may be left out, but not null"
    assert "limt" in messages[9]
    assert messages[10] == messages[4]
    assert (
        await db.fetchval("SELECT settings FROM sevsync.tenant_integration WHERE tenant_id = 'acme'")
        == before
    )
    # Nothing reached asyncpg to fail there: no traceback was logged.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_skipped_events_are_listed_and_sent_once_the_tenant_syncs(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, enabled=False)
    part = envelope("product.created", product())
    customer = envelope("customer.created", person())
    async with admin_api(settings) as (_, api):
        await publish(settings, part, customer)
        await wait_for_outcomes(db, part, customer)

        listed = await api.call("GET", "/api/v1/tenants/acme/skipped")
        assert listed["waiting"] == 2
        assert sorted((e["event_type"], e["reason"], e["version"]) for e in listed["skipped"]) == [
            ("customer.created", "disabled", 1),
            ("product.created", "disabled", 1),
        ]
        assert "body" not in listed["skipped"][0]
        none = await api.call("GET", "/api/v1/tenants/acme/skipped", params={"reason": "auto_sync_off"})
        assert (none["waiting"], none["skipped"]) == (0, [])
        one = await api.call("GET", "/api/v1/tenants/acme/skipped", params={"limit": "1"})
        assert (one["waiting"], len(one["skipped"])) == (2, 1)
        bad = await api.call("GET", "/api/v1/tenants/acme/skipped", params={"reason": "stale"}, expect=400)
        assert bad["error"] == "reason must be one of not_connected, disabled, auto_sync_off"
        await api.call("GET", "/api/v1/tenants/nobody/skipped", expect=404)
        assert (await api.call("GET", "/api/v1/tenants/acme"))["skipped_waiting"] == 2
        assert (await api.call("GET", "/api/v1/tenants"))["tenants"][0]["skipped_waiting"] == 2

        refused = await api.call("POST", "/api/v1/tenants/acme/skipped/replay", json={}, expect=409)
        assert refused["error"].startswith("tenant acme is not enabled")
        await api.call("POST", "/api/v1/tenants/nobody/skipped/replay", json={}, expect=404)
        typo = await api.call(
            "POST", "/api/v1/tenants/acme/skipped/replay", json={"reason": "stale"}, expect=422
        )
        assert typo["error"].startswith("reason:")

        enabled = await api.call(
            "PATCH", "/api/v1/tenants/acme/settings", json={"enabled": True, "auto_sync_customers": False}
        )
        assert enabled["skipped_waiting"] == 2
        sent = await api.call("POST", "/api/v1/tenants/acme/skipped/replay", json={"reason": "disabled"})
        assert sent == {"replayed": 1, "held_back": {"auto_sync_customers": 1}}
        await wait_for_first_outcome(db, part, "succeeded")
        left = await api.call("GET", "/api/v1/tenants/acme/skipped")
        assert [e["event_id"] for e in left["skipped"]] == [customer["event_id"]]
        held = await api.call("POST", "/api/v1/tenants/acme/skipped/replay", json={}, expect=409)
        assert "(auto_sync_customers)" in held["error"]

    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
