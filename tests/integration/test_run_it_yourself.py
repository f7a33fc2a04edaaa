"""The README's "Run it yourself" section, run as written on the real RabbitMQ and Postgres.

Its shell blocks run in order in one bash, from the clone, as a newcomer would paste them. The test
changes only where things are: the exported database and broker URLs become the test's (a database of
its own), the two ports become free ones, and the broker names get a unique suffix through the
environment. Between the steps it waits for what a person waits for (the sandbox listening, the
event's outcome), and at the end it stops the sandbox and the worker the walkthrough started in the
background. The walkthrough's last step reads the first event's outcome back; it must have succeeded.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest

from tests.cli_runner import clean_env
from tests.conftest import Services
from tests.doc_pages import README, ROOT, blocks, section, text

SANDBOX_PORT, HTTP_PORT = "8090", "8080"
WAIT_SCRIPT = Path(__file__).with_name("walkthrough_wait.py")
READ_BACK = "--- the walkthrough's last step ---"
# A bound on a hang only; the steps themselves take seconds.
SCRIPT_TIMEOUT = 240.0


def walkthrough() -> list[str]:
    return blocks(section(text(README), "Run it yourself"), "sh")


def _free_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _the_block(steps: list[str], words: str) -> int:
    [index] = [i for i, step in enumerate(steps) if words in step]
    return index


def _override_exports(script: str, values: dict[str, str]) -> str:
    """`export NAME=...` of each name gets the test's value; each must be exported by the README."""
    for name, value in values.items():
        line = f"export {name}={shlex.quote(value)}"
        script, count = re.subn(
            rf"^export {name}=.*$", line.replace("\\", "\\\\"), script, flags=re.MULTILINE
        )
        assert count == 1, f"the walkthrough should export {name} once"
    return script


def _on_free_ports(script: str, ports: dict[str, str]) -> str:
    for default, free in ports.items():
        assert re.search(rf"\b{default}\b", script), f"the walkthrough should name port {default}"
        script = re.sub(rf"\b{default}\b", free, script)
    return script


def first_event_id(steps: list[str]) -> str:
    [event_id] = re.findall(r'"event_id": "([0-9a-f-]{36})"', steps[_the_block(steps, "sevsync publish")])
    return str(event_id)


def build_script(steps: list[str], exports: dict[str, str], ports: dict[str, str]) -> str:
    """The blocks in order, with the test's waits between them."""
    sandbox = _the_block(steps, "sevsync sandbox")
    publish = _the_block(steps, "sevsync publish")
    assert publish < len(steps) - 1, "the walkthrough should end by reading the outcome back"
    listening = f"(: </dev/tcp/127.0.0.1/{SANDBOX_PORT}) 2>/dev/null"
    wait_port = f"for _ in $(seq 600); do {listening} && break; sleep 0.1; done"
    wait_outcome = f"{shlex.quote(sys.executable)} {shlex.quote(str(WAIT_SCRIPT))} {first_event_id(steps)}"
    parts = ["set -eo pipefail"]
    for index, step in enumerate(steps):
        if index == len(steps) - 1:
            parts.append(f"echo {shlex.quote(READ_BACK)}")
        parts.append(step)
        if index == sandbox:
            parts.append(wait_port)
        if index == publish:
            parts.append(wait_outcome)
    return _on_free_ports(_override_exports("\n".join(parts), exports), ports)


def _stop_group(leader: int) -> None:
    """SIGTERM to what the walkthrough left running in the background, SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 40.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(leader, sig)
        except ProcessLookupError:
            return
        for _ in range(int(grace / 0.1)):
            try:
                os.killpg(leader, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


@pytest.fixture
def walk_database(services: Services) -> Iterator[str]:
    """The URL of a database that does not exist yet: the walkthrough creates it."""
    name = f"sevsync_walk_{uuid.uuid4().hex[:12]}"
    yield urlunsplit(urlsplit(services.postgres_url)._replace(path=f"/{name}"))

    async def drop() -> None:
        conn = await asyncpg.connect(services.postgres_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    import asyncio

    asyncio.run(drop())


@pytest.fixture
async def walk_names(services: Services) -> AsyncIterator[dict[str, str]]:
    """Broker names of the walkthrough's own; everything `topology declare` made is deleted after."""
    suffix = uuid.uuid4().hex[:10]
    queue = f"walk.sevdesk-sync.{suffix}"
    names = {
        "SEVSYNC_EXCHANGE": f"walk.crm.events.{suffix}",
        "SEVSYNC_QUEUE": queue,
        "SEVSYNC_OUT_EXCHANGE": f"walk.sevsync.out.{suffix}",
    }
    yield names
    connection = await aio_pika.connect(services.amqp_url)
    try:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dead"):
            await channel.queue_delete(name)
        for name in (names["SEVSYNC_EXCHANGE"], names["SEVSYNC_OUT_EXCHANGE"], f"{queue}.dlx"):
            await channel.exchange_delete(name)
    finally:
        await connection.close()


def test_the_walkthrough_ends_by_reading_an_outcome_back() -> None:
    steps = walkthrough()
    assert "curl" in steps[-1] or "sevsync" in steps[-1]
    uuid.UUID(first_event_id(steps))


def test_run_it_yourself_as_written(
    services: Services, walk_database: str, walk_names: dict[str, str], tmp_path: Path
) -> None:
    steps = walkthrough()
    exports = {"SEVSYNC_DATABASE_URL": walk_database, "SEVSYNC_AMQP_URL": services.amqp_url}
    script = build_script(steps, exports, {SANDBOX_PORT: _free_port(), HTTP_PORT: _free_port()})
    (tmp_path / "walkthrough.sh").write_text(script, encoding="utf-8")
    scratch = tmp_path / "tmp"  # where the walkthrough's `mktemp -d` makes its folder
    scratch.mkdir()
    env = clean_env() | walk_names | {"TMPDIR": str(scratch), "SEVSYNC_HTTP_HOST": "127.0.0.1"}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        # Files, not pipes: the sandbox and the worker outlive the shell and would hold a pipe open.
        shell = subprocess.Popen(
            ["bash", str(tmp_path / "walkthrough.sh")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            returncode = shell.wait(timeout=SCRIPT_TIMEOUT)
        finally:
            _stop_group(shell.pid)
    printed, errors = out.read_text(), err.read_text()
    logs = "".join(f"\n--- {p.name}:\n{p.read_text()[-3000:]}" for p in scratch.glob("*/*.log"))
    assert returncode == 0, f"the walkthrough failed:\n{printed}\n{errors}{logs}"

    # The sandbox printed the dev token the walkthrough connects the tenant with.
    [token] = re.findall(r"^echo (\S+) \| sevsync tenant connect", "\n".join(steps), re.MULTILINE)
    assert f"dev token: {token}" in printed
    view = json.loads(printed.split(READ_BACK + "\n", 1)[1])
    assert view["current"]["status"] == "succeeded", view
    assert view["current"]["sevdesk_object"] == "Part"
