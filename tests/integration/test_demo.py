"""`make demo` (python -m sevsync.demo) end to end: what it prints, and that it leaves no exchange or
queue behind on the broker, whether it finishes or is interrupted. Each run uses names of its own
(SEVSYNC_DEMO_NAME), so demos of other runs on the same servers are not disturbed."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from sevsync.demo_broker import DemoNames
from sevsync.demo_lock import lock_key

from ..cli_runner import clean_env, run
from ..conftest import Services

DEMO_TIMEOUT = 240.0


@pytest.fixture
async def names(services: Services) -> AsyncIterator[DemoNames]:
    names = DemoNames(f"demo_{uuid.uuid4().hex[:10]}")
    yield names
    conn = await asyncpg.connect(services.postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{names.database}" WITH (FORCE)')
    finally:
        await conn.close()


def _env(services: Services, names: DemoNames) -> dict[str, str]:
    return clean_env() | {
        "SEVSYNC_AMQP_URL": services.amqp_url,
        "SEVSYNC_DATABASE_URL": services.postgres_url,
        "SEVSYNC_DEMO_NAME": names.name,
        "PYTHONUNBUFFERED": "1",
    }


async def _exists(connection: aio_pika.abc.AbstractConnection, kind: str, name: str) -> bool:
    """A passive declare, which creates nothing; a missing object closes its channel."""
    channel = await connection.channel()
    try:
        if kind == "queue":
            await channel.declare_queue(name, passive=True)
        else:
            await channel.get_exchange(name, ensure=True)
        return True
    except ChannelNotFoundEntity:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()


async def _remaining(services: Services, names: DemoNames) -> list[str]:
    plan = names.broker_objects()
    wanted = [("queue", q.name) for q in plan.queues] + [("exchange", e.name) for e in plan.exchanges]
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        return [f"{kind} {name}" for kind, name in wanted if await _exists(connection, kind, name)]


async def test_the_demo_prints_what_it_sent_and_leaves_no_broker_objects(
    services: Services, names: DemoNames
) -> None:
    result = await run([sys.executable, "-m", "sevsync.demo"], _env(services, names), timeout=DEMO_TIMEOUT)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "  customer.created   cust-1001  event " in out
    assert "  payment.received   pay-3      event " in out
    assert f"published 4 events to {names.name}.crm.events" in out
    # The redelivered duplicate is one event with two outcomes.
    assert "\nSummary: 10 outcomes of 9 events: 9 succeeded, 1 skipped\n" in out
    assert 'README.md, section "Run it yourself"' in out
    assert "http://127.0.0.1:8080/" in out
    assert await _remaining(services, names) == []


async def test_an_interrupted_demo_leaves_no_broker_objects(services: Services, names: DemoNames) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sevsync.demo",
        env=_env(services, names),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(DEMO_TIMEOUT):
            while b"published " not in (line := await proc.stdout.readline()):
                assert line, "the demo ended before it published anything"
            # Frozen while the test looks, so that a busy machine cannot let it finish first; the
            # interrupt waits and lands as soon as it runs again.
            proc.send_signal(signal.SIGSTOP)
            # The worker declared them: the check below would see them if they stayed.
            assert f"queue {names.topology.queue}" in await _remaining(services, names)
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGCONT)
            _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 1
    assert err.decode().strip().splitlines()[-1] == "demo: interrupted"
    assert await _remaining(services, names) == []


async def test_a_second_demo_of_the_same_name_refuses_to_start(services: Services, names: DemoNames) -> None:
    conn = await asyncpg.connect(services.postgres_url)  # as a running demo of this name holds it
    try:
        assert await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key(names.name)
        )
        await conn.execute(f'CREATE DATABASE "{names.database}"')  # the first demo's database
        result = await run(
            [sys.executable, "-m", "sevsync.demo"], _env(services, names), timeout=DEMO_TIMEOUT
        )
        kept = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", names.database)
    finally:
        await conn.close()

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"demo: another demo named {names.name!r} is running"), result.stderr
    assert kept == 1  # not dropped
