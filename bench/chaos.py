"""`make chaos`: thousands of events while workers are SIGKILLed and sevDesk misbehaves.

Workers run as real processes against the real RabbitMQ and Postgres; sevDesk is the bundled
sandbox, which keeps injecting 429s, 5xx answers, answers lost after the write was applied, and
answers that arrive only after a worker has been killed. At the end every event must have a final
outcome (zero lost) and every CRM entity exactly one sevDesk object of each kind (zero duplicates).

    python -m bench.chaos [--events 2000] [--tenants 20] [--workers 2] [--kills 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractExchange
from cryptography.fernet import Fernet

from sevsync.sandbox.app import Sandbox
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.db import create_pool
from sevsync.store.migrations import migrate
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant
from sevsync_events.connection import connect as connect_amqp

FINAL = ("succeeded", "skipped", "failed", "dead")
# The `sevsync` program of the running interpreter's environment.
SEVSYNC = str(Path(sys.executable).with_name("sevsync"))
RETRY_DELAYS = ("500ms", "1s", "2s", "4s", "8s")
FAULT_INTERVAL_SECONDS = 0.25
# Connections the publisher may lose before the run gives up.
PUBLISH_ATTEMPTS = 20


@dataclass(frozen=True)
class ChaosConfig:
    events: int = 2000
    tenants: int = 20
    workers: int = 2
    kills: int = 6
    seed: int = 2026
    timeout: float = 600.0
    amqp_url: str = os.environ.get("SEVSYNC_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    postgres_url: str = os.environ.get(
        "SEVSYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


@dataclass
class ChaosReport:
    events: int
    unique_events: int
    tenants: int
    workers: int
    kills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    # Waits on the retry ladder (outcome rows `retrying`), each held in Postgres and put back.
    retries: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    wrong_links: list[str] = field(default_factory=list)
    # Failed and dead events with their reason and error: expected only where the data says so.
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.wrong_links)

    def lines(self) -> list[str]:
        rows = [
            ("events published (with redeliveries)", self.events),
            ("distinct events", self.unique_events),
            ("tenants", self.tenants),
            ("worker processes", self.workers),
            ("SIGKILLs", self.kills),
            *((f"faults armed: {kind}", n) for kind, n in sorted(self.faults.items())),
            *((f"faults that hit a request: {kind}", n) for kind, n in sorted(self.faults_fired.items())),
            *((f"final outcome: {status}", n) for status, n in sorted(self.statuses.items())),
            ("retries (waits on the ladder)", self.retries),
            ("lost events", len(self.lost)),
            ("duplicate sevDesk objects", len(self.duplicates)),
            ("links to the wrong object", len(self.wrong_links)),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        width = max(len(name) for name, _ in rows)
        return [f"  {name.ljust(width)}  {value}" for name, value in rows]

    def verdict_lines(self) -> list[str]:
        """The first problems of each kind, then the one-line result."""
        shown = (self.lost[:10], self.duplicates[:10], self.wrong_links[:10], self.problems[:10])
        return [
            *(f"  ! {line}" for problem in shown for line in problem),
            "RESULT: " + ("zero lost, zero duplicates" if self.ok else "FAILED"),
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(event_type: str, tenant: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "tenant_id": tenant,
        "occurred_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "version": version,
        "data": data,
    }


def generate_events(config: ChaosConfig, tenants: Sequence[str], rng: random.Random) -> list[dict[str, Any]]:
    """Customers (some without a number: sevDesk allocates) and products, created then updated."""
    events: list[dict[str, Any]] = []
    versions: dict[tuple[str, str], int] = {}
    while len(events) < config.events:
        tenant = rng.choice(tenants)
        if rng.random() < 0.55:
            n = rng.randrange(25)
            key = (tenant, f"cust-{n}")
            version = versions[key] = versions.get(key, 0) + 1
            data: dict[str, Any] = {
                "id": f"cust-{n}",
                "kind": "person" if n % 3 == 0 else "company",
                "last_name": f"Kunde{n}",
                "first_name": f"V{version}",
                "email": f"c{n}-v{version}@example.org",
                "address": {"street": f"Weg {version}", "zip": "10115", "city": "Berlin", "country": "DE"},
            }
            if n % 3:
                data["company_name"] = f"Firma {n} GmbH"
            if n % 2:
                data["customer_number"] = f"K-{n}"
            events.append(
                _event("customer.updated" if version > 1 else "customer.created", tenant, version, data)
            )
        else:
            n = rng.randrange(15)
            key = (tenant, f"prod-{n}")
            version = versions[key] = versions.get(key, 0) + 1
            price = f"{rng.randrange(100, 100000) / 100:.2f}"
            data = {
                "id": f"prod-{n}",
                "sku": f"SKU-{n}",
                "name": f"Produkt {n} v{version}",
                "net_price": price,
                "tax_rate": rng.choice(["0", "7", "19"]),
            }
            events.append(
                _event("product.updated" if version > 1 else "product.created", tenant, version, data)
            )
    return events


class WorkerProcesses:
    """Worker processes that can be killed and replaced."""

    def __init__(
        self,
        env: dict[str, str],
        count: int,
        log_dir: Path,
        command: Sequence[str] = (SEVSYNC, "worker"),
        *,
        ready_timeout: float = 30,
        cwd: Path | None = None,
    ) -> None:
        self._env = env
        self._count = count
        self._log_dir = log_dir
        self._command = list(command)
        self._ready_timeout = ready_timeout
        self._cwd = cwd
        self.processes: list[asyncio.subprocess.Process] = []
        # pid -> the port of the process's health and metrics server
        self.http_ports: dict[int, int] = {}
        self._started = 0

    async def start_one(self) -> asyncio.subprocess.Process:
        self._started += 1
        log = (self._log_dir / f"worker-{self._started}.log").open("wb")
        port = _free_port()
        process = await asyncio.create_subprocess_exec(
            *self._command,
            env={**self._env, "SEVSYNC_HTTP_PORT": str(port)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=self._cwd,
        )
        log.close()
        self.http_ports[process.pid] = port
        await _wait_ready(port, process, self._ready_timeout)
        return process

    async def start(self) -> None:
        self.processes = list(await asyncio.gather(*(self.start_one() for _ in range(self._count))))

    async def kill_and_replace(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.processes))
        victim = self.processes[index]
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        self.processes[index] = await self.start_one()

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        await asyncio.gather(
            *(asyncio.wait_for(p.wait(), 60) for p in self.processes), return_exceptions=True
        )


async def _wait_ready(port: int, process: asyncio.subprocess.Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"a worker exited with {process.returncode} while starting")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("a worker did not become ready")


async def _inject_faults(
    sandbox: Sandbox, rng: random.Random, report: ChaosReport, stop: asyncio.Event
) -> None:
    """Keep sevDesk unreliable: a few one-shot faults on random endpoints, again and again."""
    paths = [
        "^/Contact$",
        "^/ContactAddress$",
        "^/CommunicationWay$",
        "^/Part$",
        "^/Contact/\\d+$",
        "^/Part/\\d+$",
    ]
    while not stop.is_set():
        kind = rng.choice(["rate_limit", "server_error", "lost_answer", "applied_then_error", "slow_answer"])
        path = rng.choice(paths)
        if kind == "rate_limit":
            sandbox.faults.add(kind="status", status=429, retry_after=0.3, path=path, times=2)
        elif kind == "server_error":
            sandbox.faults.add(kind="status", status=rng.choice([500, 502, 503]), path=path, times=2)
        elif kind == "slow_answer":
            # Applied, answered late: a worker killed meanwhile must find it rather than create it twice.
            sandbox.faults.add(kind="slow_answer", seconds=1.5, method="POST", path=path, times=1)
        else:
            sandbox.faults.add(kind=kind, method=rng.choice(["POST", "PUT"]), path=path, times=1)
        report.faults[kind] += 1
        await asyncio.sleep(FAULT_INTERVAL_SECONDS)


async def _publish(amqp_url: str, exchange: str, events: Sequence[dict[str, Any]], pace: float) -> None:
    """Publish in confirmed batches of 50; a batch whose connection breaks (a broker node lost) goes
    out again on a new connection, to whichever node answers: some events twice, as a CRM would."""
    sent = failures = 0
    while sent < len(events):
        try:
            connection = await connect_amqp(amqp_url)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                target = await channel.get_exchange(exchange)
                while sent < len(events):
                    await _publish_batch(target, events[sent : sent + 50])
                    sent += len(events[sent : sent + 50])
                    await asyncio.sleep(pace)
        except Exception:
            failures += 1
            if failures > PUBLISH_ATTEMPTS:
                raise
            await asyncio.sleep(1)


async def _publish_batch(target: AbstractExchange, batch: Sequence[dict[str, Any]]) -> None:
    await asyncio.gather(
        *(
            target.publish(
                aio_pika.Message(
                    json.dumps(e).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=e["event_id"],
                ),
                routing_key=e["event_type"],
            )
            for e in batch
        )
    )


async def _final_count(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(DISTINCT event_id) FROM sevsync.sync_outcome WHERE event_id = ANY($1::uuid[]) "
            "AND status = ANY($2::text[])",
            ids,
            list(FINAL),
        )
    )


# Called with the workers' environment before they start (e.g. to declare the topology on one node).
Prepare = Callable[[dict[str, str]], Awaitable[None]]
# Runs beside the workers until every event has ended: given a function that counts the events
# that ended and how many there are (e.g. to kill a broker node half-way).
Watch = Callable[[Callable[[], Awaitable[int]], int], Coroutine[Any, Any, None]]


async def run_chaos(
    config: ChaosConfig, prepare: Prepare | None = None, watch: Watch | None = None
) -> ChaosReport:
    rng = random.Random(config.seed)
    suffix = uuid.uuid4().hex[:8]
    database = f"sevsync_chaos_{suffix}"
    server = urlsplit(config.postgres_url)
    admin_url = urlunsplit(server._replace(path="/postgres"))
    database_url = urlunsplit(server._replace(path=f"/{database}"))
    names = {
        "exchange": f"chaos.crm.events.{suffix}",
        "queue": f"chaos.sevdesk-sync.{suffix}",
        "out_exchange": f"chaos.sevsync.out.{suffix}",
    }
    secret = Fernet.generate_key().decode()
    tenants = [f"tenant-{i:02d}" for i in range(config.tenants)]
    events = generate_events(config, tenants, rng)
    # Some events are delivered twice, as a CRM's outbox or a broker redelivery would.
    redelivered = rng.sample(events, k=len(events) // 20)
    report = ChaosReport(len(events) + len(redelivered), len(events), config.tenants, config.workers)

    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    log_dir = Path(tempfile.mkdtemp(prefix="sevsync-chaos-"))
    sandbox = Sandbox()
    tokens = {t: uuid.uuid4().hex for t in tenants}
    for token in tokens.values():
        sandbox.add_account(token)
    started = time.monotonic()
    try:
        await migrate(database_url)
        pool = await create_pool(database_url, min_size=1, max_size=4)
        async with SandboxServer(sandbox) as sandbox_server:
            cipher = TokenCipher(secret)
            async with SevdeskClient(sandbox_server.base_url) as client:
                for tenant, token in tokens.items():
                    await connect_tenant(pool, client, cipher, tenant, ApiToken(token))
                    await change_settings(pool, tenant, {}, True)
            env = {
                **os.environ,
                "SEVSYNC_AMQP_URL": config.amqp_url,
                "SEVSYNC_DATABASE_URL": database_url,
                "SEVSYNC_SEVDESK_URL": sandbox_server.base_url,
                "SEVSYNC_SECRET_KEYS": secret,
                "SEVSYNC_EXCHANGE": names["exchange"],
                "SEVSYNC_QUEUE": names["queue"],
                "SEVSYNC_OUT_EXCHANGE": names["out_exchange"],
                "SEVSYNC_RETRY_DELAYS": ",".join(RETRY_DELAYS),
                "SEVSYNC_SEVDESK_TIMEOUT": "1",
                "SEVSYNC_SEVDESK_RETRY_ATTEMPTS": "3",
                "SEVSYNC_SEVDESK_RETRY_BUDGET": "1",
                # Requests of a killed worker land within milliseconds here; the ladder outlasts this.
                "SEVSYNC_WRITE_SETTLE_SECONDS": "3",
                "SEVSYNC_PREFETCH": "16",
                "SEVSYNC_LOG_LEVEL": "WARNING",
                "SEVSYNC_HTTP_HOST": "127.0.0.1",
            }
            if prepare is not None:
                await prepare(env)
            workers = WorkerProcesses(env, config.workers, log_dir)
            await workers.start()
            stop_faults = asyncio.Event()
            faults = asyncio.create_task(_inject_faults(sandbox, rng, report, stop_faults))
            publishing = asyncio.create_task(
                _publish(config.amqp_url, names["exchange"], [*events, *redelivered], pace=0.02)
            )
            ids = [uuid.UUID(e["event_id"]) for e in events]
            watching = (
                asyncio.create_task(watch(lambda: _final_count(pool, ids), len(ids))) if watch else None
            )
            kill_every = max(1, len(events) // (config.kills + 1))
            try:
                while report.kills < config.kills:
                    done = await _final_count(pool, ids)
                    if done >= (report.kills + 1) * kill_every or (publishing.done() and done >= len(ids)):
                        await workers.kill_and_replace(rng)
                        report.kills += 1
                    if time.monotonic() - started > config.timeout:
                        break
                    await asyncio.sleep(0.1)
                await publishing
                if watching is not None:
                    await watching
                stop_faults.set()
                await faults
                sandbox.faults.clear()
                deadline = time.monotonic() + config.timeout
                while await _final_count(pool, ids) < len(ids) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.25)
            finally:
                stop_faults.set()
                faults.cancel()
                if watching is not None:
                    watching.cancel()
                await workers.stop()
            report.seconds = time.monotonic() - started
            await _census(pool, sandbox, tokens, ids, report)
        await pool.close()
    finally:
        await _cleanup(config.amqp_url, names, admin_url, database)
    return report


async def _census(
    pool: asyncpg.Pool, sandbox: Sandbox, tokens: dict[str, str], ids: list[uuid.UUID], report: ChaosReport
) -> None:
    rows = await pool.fetch(
        "SELECT DISTINCT ON (event_id) event_id, tenant_id, entity_id, status, reason, error "
        "FROM sevsync.sync_outcome WHERE status = ANY($1::text[]) ORDER BY event_id, id DESC",
        list(FINAL),
    )
    report.problems = [
        f"{r['tenant_id']} {r['entity_id']}: {r['status']} {r['reason']}: {r['error']}"
        for r in rows
        if r["status"] in ("failed", "dead")
    ]
    final = {r["event_id"]: r["status"] for r in rows}
    report.statuses.update(final.values())
    report.retries = await pool.fetchval(
        "SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'"
    )
    report.lost = [str(i) for i in ids if i not in final]
    report.faults_fired.update(c.fault for c in sandbox.calls if c.fault)
    links = await pool.fetch("SELECT tenant_id, entity_type, entity_id, sevdesk_id FROM sevsync.entity_link")
    linked = {(r["tenant_id"], r["entity_type"], r["entity_id"]): r["sevdesk_id"] for r in links}
    for tenant, token in tokens.items():
        account = sandbox.account(token)
        contacts = account.objects("Contact")
        organisations_and_persons = [c for c in contacts if not c.get("parent")]
        by_number = Counter(str(c.get("customerNumber")) for c in organisations_and_persons)
        report.duplicates += [f"{tenant}: customer number {n} x{k}" for n, k in by_number.items() if k > 1]
        persons_by_parent = Counter(str(c["parent"]["id"]) for c in contacts if c.get("parent"))
        report.duplicates += [
            f"{tenant}: contact persons of {p} x{k}" for p, k in persons_by_parent.items() if k > 1
        ]
        parts = Counter(str(p.get("partNumber")) for p in account.objects("Part"))
        report.duplicates += [f"{tenant}: part number {n} x{k}" for n, k in parts.items() if k > 1]
        addresses = Counter(str(a["contact"]["id"]) for a in account.objects("ContactAddress"))
        report.duplicates += [
            f"{tenant}: addresses of contact {c} x{k}" for c, k in addresses.items() if k > 1
        ]
        ways = Counter((str(w["contact"]["id"]), w["type"]) for w in account.objects("CommunicationWay"))
        report.duplicates += [
            f"{tenant}: {t} entries of contact {c} x{k}" for (c, t), k in ways.items() if k > 1
        ]
        # Every linked CRM entity points at an object that exists, and no object serves two entities.
        existing = {str(c["id"]) for c in contacts} | {str(p["id"]) for p in account.objects("Part")}
        owners = Counter(v for (t, _, _), v in linked.items() if t == tenant)
        for (t, entity_type, entity_id), sevdesk_id in linked.items():
            if t == tenant and (sevdesk_id not in existing or owners[sevdesk_id] > 1):
                report.wrong_links.append(f"{tenant}: {entity_type} {entity_id} -> {sevdesk_id}")
        # A contact no customer is linked to would be the orphan of a create that was repeated.
        unlinked = [c for c in organisations_and_persons if str(c["id"]) not in owners]
        report.duplicates += [f"{tenant}: contact {c['id']} belongs to no customer" for c in unlinked]


async def _cleanup(amqp_url: str, names: dict[str, str], admin_url: str, database: str) -> None:
    connection = await connect_amqp(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in (names["queue"], f"{names['queue']}.dead"):
            await channel.queue_delete(queue)
        for exchange in (names["exchange"], names["out_exchange"], f"{names['queue']}.dlx"):
            await channel.exchange_delete(exchange)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make chaos", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    config = ChaosConfig(
        events=args.events, tenants=args.tenants, workers=args.workers, kills=args.kills, seed=args.seed
    )
    report = asyncio.run(run_chaos(config))
    print("sevsync chaos run")
    print("\n".join(report.lines()))
    print("\n".join(report.verdict_lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
