"""`make demo`: sample CRM events through the real worker into the bundled sevDesk sandbox.

Everything runs as the operator would run it, through the `sevsync` command: the sandbox, the
migration, connecting and enabling a tenant, the worker, publishing. The demo uses a database and
broker names of its own (`sevsync_demo`, `demo.*`; see demo_broker.py) and starts from a clean slate
each time, so it can run again and again without touching a real installation on the same servers.
Its broker objects are removed when it ends, also when it fails; its database stays to be looked at.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import asyncpg
from cryptography.fernet import Fernet

from .config import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL
from .demo_broker import DemoNames, remove_broker_objects
from .demo_lock import demo_running
from .demo_samples import DEMO_TENANT, sample_batches

# The seller's own data an e-invoice needs. sevDesk has no API for it (people fill it in the
# settings), so the demo fills it in through the sandbox's control route, as that person would.
DEMO_COMPANY = {
    "name": "Demo Consulting GmbH",
    "addressStreet": "Torstr. 10",
    "addressZip": "10119",
    "addressCity": "Berlin",
    "bankIban": "DE02120300000000202051",
    "bankBic": "BYLADEM1001",
    "contactEmail": "billing@demo-consulting.example",
    "contactPhone": "+49 30 9876543",
    "taxNumber": "30/123/45678",
    "vatNumber": "DE987654321",
}
# sevDesk's PaymentMethod "Überweisung" (bank transfer) in the sandbox.
BANK_TRANSFER_METHOD = "21919"
# The sandbox's demo account: a made-up token, not a real sevDesk one.
DEMO_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105
WAIT_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_database_url(database: str) -> str:
    base = os.environ.get("SEVSYNC_DATABASE_URL", DEFAULT_DATABASE_URL)
    return urlunsplit(urlsplit(base)._replace(path=f"/{database}"))


def _sevsync() -> list[str]:
    script = Path(sys.executable).with_name("sevsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sevsync.cli"]


class Demo:
    def __init__(self) -> None:
        self.names = DemoNames.from_environment()
        self.amqp_url = os.environ.get("SEVSYNC_AMQP_URL", DEFAULT_AMQP_URL)
        self.database_url = _demo_database_url(self.names.database)
        self.sandbox_port = _free_port()
        self.worker_port = _free_port()
        self.env = {
            **os.environ,
            "SEVSYNC_AMQP_URL": self.amqp_url,
            "SEVSYNC_DATABASE_URL": self.database_url,
            "SEVSYNC_SEVDESK_URL": f"http://127.0.0.1:{self.sandbox_port}/api/v1",
            "SEVSYNC_SECRET_KEYS": Fernet.generate_key().decode(),
            **self.names.environment(),
            "SEVSYNC_HTTP_PORT": str(self.worker_port),
            "SEVSYNC_LOG_LEVEL": os.environ.get("SEVSYNC_LOG_LEVEL", "WARNING"),
        }

    def run(self, *args: str, stdin: str | None = None) -> str:
        """One `sevsync` command; stop the demo with its own error line if it fails."""
        done = subprocess.run(  # noqa: S603 - our own console script with fixed arguments
            [*_sevsync(), *args], env=self.env, input=stdin, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"demo: `sevsync {' '.join(args)}` failed: {done.stderr.strip()}")
        return done.stdout

    @contextmanager
    def background(self, *args: str) -> Iterator[subprocess.Popen[str]]:
        proc = subprocess.Popen(  # noqa: S603
            [*_sevsync(), *args], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _server_url(demo: Demo) -> str:
    """The server's `postgres` database, which the demo's own is dropped and created from."""
    return urlunsplit(urlsplit(demo.database_url)._replace(path="/postgres"))


async def _reset(demo: Demo) -> None:
    """A clean slate: the demo's own database and queues, nothing else."""
    conn = await asyncpg.connect(_server_url(demo))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{demo.names.database}" WITH (FORCE)')
    finally:
        await conn.close()
    # Left behind by a demo that was killed before it could clean up.
    await remove_broker_objects(demo.amqp_url, demo.names)


async def _wait_for(demo: Demo, event_ids: Sequence[str], worker: subprocess.Popen[str]) -> None:
    conn = await asyncpg.connect(demo.database_url)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            done = await conn.fetchval(
                """
                SELECT count(DISTINCT event_id) FROM sevsync.sync_outcome
                 WHERE event_id = ANY($1::uuid[])
                   AND status IN ('succeeded', 'skipped', 'failed', 'dead', 'parked')
                """,
                [uuid.UUID(e) for e in event_ids],
            )
            if done >= len(set(event_ids)):
                return
            if worker.poll() is not None:
                raise SystemExit(
                    f"demo: the worker exited early: {worker.stderr.read() if worker.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"demo: only {done} of {len(event_ids)} events finished within {WAIT_SECONDS:.0f} s"
                )
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _outcomes(demo: Demo) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(demo.database_url)
    try:
        return await conn.fetch(
            """
            SELECT event_id, event_type, entity_id, status, coalesce(reason, '') AS reason,
                   coalesce(sevdesk_object || ' ' || sevdesk_id, '') AS sevdesk
              FROM sevsync.sync_outcome ORDER BY id
            """
        )
    finally:
        await conn.close()


def _print_outcomes(outcomes: Sequence[asyncpg.Record]) -> None:
    print(f"\nOutcomes (sevsync.sync_outcome, {len(outcomes)} rows)")
    for row in outcomes:
        detail = row["reason"] or row["sevdesk"]
        print(f"  {row['event_type']:<18} {row['entity_id']:<10} {row['status']:<10} {detail}")


def _summary(demo: Demo, outcomes: Sequence[asyncpg.Record]) -> None:
    counts = Counter(str(row["status"]) for row in outcomes)
    shown = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    events = len({row["event_id"] for row in outcomes})
    # A redelivered event gets an outcome of its own (skipped: already applied).
    print(f"\nSummary: {len(outcomes)} outcomes of {events} events: {shown}")
    print("\nNext steps")
    print('  run sevsync yourself against your own services: README.md, section "Run it yourself"')
    print("  the ops console: a worker with SEVSYNC_ADMIN_TOKEN set serves it on http://127.0.0.1:8080/")
    print(
        f"  what the demo stored stays in database {demo.names.database} "
        "(tables sevsync.sync_outcome, sevsync.entity_link)"
    )


def main() -> int:
    demo = Demo()
    print(
        f"sevsync demo: database {demo.names.database}, exchanges and queues {demo.names.name}.*, "
        f"sandbox on port {demo.sandbox_port}"
    )
    with demo_running(_server_url(demo), demo.names.name):
        asyncio.run(_reset(demo))
        try:
            _run(demo)
        finally:
            _remove_broker_objects(demo)
        print("\ndemo finished: the worker and the sandbox are stopped, the broker objects removed")
        _summary(demo, asyncio.run(_outcomes(demo)))
    return 0


def _run(demo: Demo) -> None:
    """The sandbox, a connected and configured tenant, the worker, the events."""
    with demo.background("sandbox", "--port", str(demo.sandbox_port), "--token", DEMO_TOKEN):
        _wait_for_port(demo.sandbox_port)
        migrated = demo.run("migrate", "--create-database").splitlines()
        applied = sum(line.startswith("applied ") for line in migrated)
        print(f"$ sevsync migrate --create-database: {applied} migrations applied")
        print(demo.run("tenant", "connect", DEMO_TENANT, stdin=DEMO_TOKEN + "\n").strip())
        cash_account = _cash_account_id(demo)
        _sandbox_call(demo, "POST", "/__sandbox__/company", DEMO_COMPANY)
        demo.run(
            "tenant",
            "settings",
            DEMO_TENANT,
            "--enable",
            "--unit",
            "hour=2",
            "--check-account",
            f"cash={cash_account}",
            "--e-invoice",
            "customers",
            "--payment-method",
            f"transfer={BANK_TRANSFER_METHOD}",
        )
        print(f"\n$ sevsync tenant doctor {DEMO_TENANT}")
        print(demo.run("tenant", "doctor", DEMO_TENANT).rstrip())
        with demo.background("worker") as worker:
            # Publish only once the worker consumes: its queue binding must exist first.
            _wait_until_ready(demo.worker_port, worker)
            _publish(demo, worker)
        _print_outcomes(asyncio.run(_outcomes(demo)))
        asyncio.run(_show_documents(demo))


def _publish(demo: Demo, worker: subprocess.Popen[str]) -> None:
    """Each batch through `sevsync publish`, one line per event sent, then its outcomes awaited."""
    workdir = Path(tempfile.mkdtemp(prefix="sevsync-demo-"))
    try:
        for number, batch in enumerate(sample_batches(), start=1):
            path = workdir / f"batch-{number}.jsonl"
            path.write_text("".join(json.dumps(e) + "\n" for e in batch), encoding="utf-8")
            print(f"\n$ sevsync publish batch-{number}.jsonl")
            for event in batch:
                print(f"  {event['event_type']:<18} {event['data']['id']:<10} event {event['event_id']}")
            print(demo.run("publish", str(path)).strip())
            asyncio.run(_wait_for(demo, [e["event_id"] for e in batch], worker))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _remove_broker_objects(demo: Demo) -> None:
    try:
        asyncio.run(remove_broker_objects(demo.amqp_url, demo.names))
    except Exception as exc:  # the demo's own outcome matters more than its tidying up
        print(f"demo: could not remove the exchanges and queues {demo.names.name}.*: {exc}", file=sys.stderr)


def _sandbox_call(demo: Demo, method: str, path: str, body: Any = None) -> Any:
    """One request to the sandbox with the demo account's token; its JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{demo.sandbox_port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode("utf-8"),
        headers={
            "Authorization": DEMO_TOKEN,
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local sandbox
        return json.load(response)


def _cash_account_id(demo: Demo) -> str:
    """The sandbox account's cash register, which the demo maps the payment method `cash` to."""
    accounts = _sandbox_call(demo, "GET", "/api/v1/CheckAccount?limit=100")["objects"]
    return next(str(a["id"]) for a in accounts if a.get("type") == "register")


async def _show_documents(demo: Demo) -> None:
    """The won deal's e-invoice (finalised as an accountant would, then its XML) and the CRM
    invoice's voucher with the PDF the CRM sent."""
    conn = await asyncpg.connect(demo.database_url)
    try:
        rows = await conn.fetch("SELECT sevdesk_object, sevdesk_id FROM sevsync.entity_link")
        ids: dict[str, str] = {row["sevdesk_object"]: row["sevdesk_id"] for row in rows}
    finally:
        await conn.close()
    print("\nE-invoice and document")
    invoice_id, voucher_id = ids.get("Invoice"), ids.get("Voucher")
    if invoice_id is not None:
        invoice = _sandbox_call(demo, "GET", f"/api/v1/Invoice/{invoice_id}")["objects"][0]
        print(
            f"  Invoice {invoice_id}: propertyIsEInvoice={invoice.get('propertyIsEInvoice')}, "
            f"paymentMethod {invoice['paymentMethod']['id']}, contact {invoice['contact']['id']}"
        )
        # sevsync never finalises; here the demo acts as the accountant who sends it in sevDesk.
        _sandbox_call(
            demo, "PUT", f"/api/v1/Invoice/{invoice_id}/sendBy", {"sendType": "VPDF", "sendDraft": False}
        )
        xml = _sandbox_call(demo, "GET", f"/api/v1/Invoice/{invoice_id}/getXml")["objects"]
        root = ElementTree.fromstring(xml.encode("utf-8")).tag  # noqa: S314 - our own sandbox's XML
        print(f"  sent by the accountant: getXml answers {len(xml)} characters, root {root}")
    if voucher_id is not None:
        voucher = _sandbox_call(demo, "GET", f"/api/v1/Voucher/{voucher_id}")["objects"][0]
        attached = _sandbox_call(demo, "GET", "/__sandbox__/attachments")["attachments"]
        document = (voucher.get("document") or {}).get("id", "none")
        print(f"  Voucher {voucher_id} ({voucher.get('description')}): document {document}")
        for item in attached:
            name, voucher_ref = item["filename"], item["voucher"]
            print(f"    attached: {name} (voucher {voucher_ref}, contentHash {item['contentHash'][:16]}…)")


def _wait_until_ready(port: int, worker: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"demo: the worker exited: {worker.stderr.read() if worker.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: the worker was not ready within {timeout:.0f} s")


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"demo: the sandbox did not listen on port {port} within {timeout:.0f} s")


def _interrupted(signum: int, frame: FrameType | None) -> None:
    _INTERRUPTS.append(signum)
    raise KeyboardInterrupt


# Ctrl-C may land anywhere, even inside asyncio's own set-up, where it surfaces as some other error:
# what was interrupted is told by this, not by the exception that comes out.
_INTERRUPTS: list[int] = []

if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted)
    try:
        sys.exit(main())
    except Exception:
        if not _INTERRUPTS:
            raise
    except KeyboardInterrupt:
        pass
    # Objects half built when Ctrl-C landed complain once collected at exit: an event loop fails in its
    # finaliser (no self-pipe yet), a coroutine created but not yet awaited warns. Noise after an
    # interrupt, which would otherwise print after the line below.
    sys.unraisablehook = lambda _: None
    warnings.simplefilter("ignore")
    sys.exit("demo: interrupted")
