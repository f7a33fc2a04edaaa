"""`make demo`: sample CRM events through the real worker into the bundled sevDesk sandbox.

Everything runs as the operator would run it, through the `sevsync` command: the sandbox, the
migration, connecting and enabling a tenant, the worker, publishing. The demo uses a database and
broker names of its own (`sevsync_demo`, `demo.*`) and starts from a clean slate each time, so it can
run again and again without touching a real installation on the same servers.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import aio_pika
import asyncpg
from cryptography.fernet import Fernet

from .config import DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL
from .demo_samples import DEMO_TENANT, sample_batches

DEMO_DATABASE = "sevsync_demo"
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


def _demo_database_url() -> str:
    base = os.environ.get("SEVSYNC_DATABASE_URL", DEFAULT_DATABASE_URL)
    return urlunsplit(urlsplit(base)._replace(path=f"/{DEMO_DATABASE}"))


def _sevsync() -> list[str]:
    script = Path(sys.executable).with_name("sevsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sevsync.cli"]


class Demo:
    def __init__(self) -> None:
        self.amqp_url = os.environ.get("SEVSYNC_AMQP_URL", DEFAULT_AMQP_URL)
        self.database_url = _demo_database_url()
        self.sandbox_port = _free_port()
        self.worker_port = _free_port()
        self.env = {
            **os.environ,
            "SEVSYNC_AMQP_URL": self.amqp_url,
            "SEVSYNC_DATABASE_URL": self.database_url,
            "SEVSYNC_SEVDESK_URL": f"http://127.0.0.1:{self.sandbox_port}/api/v1",
            "SEVSYNC_SECRET_KEYS": Fernet.generate_key().decode(),
            "SEVSYNC_EXCHANGE": "demo.crm.events",
            "SEVSYNC_QUEUE": "demo.sevdesk-sync",
            "SEVSYNC_OUT_EXCHANGE": "demo.sevsync.out",
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


async def _reset(demo: Demo) -> None:
    """A clean slate: the demo's own database and queues, nothing else."""
    parts = urlsplit(demo.database_url)
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
    finally:
        await conn.close()
    connection = await aio_pika.connect(demo.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in ("demo.sevdesk-sync", "demo.sevdesk-sync.dead"):
            await channel.queue_delete(queue)


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


async def _report(demo: Demo) -> None:
    conn = await asyncpg.connect(demo.database_url)
    try:
        outcomes = await conn.fetch(
            """
            SELECT event_type, entity_id, status, coalesce(reason, '') AS reason,
                   coalesce(sevdesk_object || ' ' || sevdesk_id, '') AS sevdesk, api_calls, duration_ms
              FROM sevsync.sync_outcome ORDER BY id
            """
        )
        links = await conn.fetch(
            """
            SELECT entity_type, entity_id, sevdesk_object, sevdesk_id, coalesce(sevdesk_number, '') AS number,
                   synced_version FROM sevsync.entity_link ORDER BY entity_type, entity_id
            """
        )
    finally:
        await conn.close()
    _table("Outcomes (sevsync.sync_outcome)", outcomes)
    _table("Links (sevsync.entity_link)", links)


def _table(title: str, rows: Sequence[asyncpg.Record]) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    headers = list(rows[0].keys())
    cells = [[str(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    demo = Demo()
    print(f"sevsync demo: database {DEMO_DATABASE}, sandbox on port {demo.sandbox_port}")
    asyncio.run(_reset(demo))
    workdir = Path(tempfile.mkdtemp(prefix="sevsync-demo-"))
    try:
        with demo.background("sandbox", "--port", str(demo.sandbox_port), "--token", DEMO_TOKEN):
            _wait_for_port(demo.sandbox_port)
            print(demo.run("migrate", "--create-database").strip())
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
                for number, batch in enumerate(sample_batches(), start=1):
                    path = workdir / f"batch-{number}.jsonl"
                    path.write_text("".join(json.dumps(e) + "\n" for e in batch), encoding="utf-8")
                    print(demo.run("publish", str(path)).strip())
                    asyncio.run(_wait_for(demo, [e["event_id"] for e in batch], worker))
            asyncio.run(_report(demo))
            asyncio.run(_show_documents(demo))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\ndemo finished: the worker and the sandbox are stopped")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
