"""The README's Python publisher runs as written and its event arrives, mandatory and valid.

The program is taken from the README's only ```python block and run by this virtualenv's Python with
the broker of the tests and an exchange of this test's own (it reads the same variables as the
`sevsync` command). A queue bound like sevsync's work queue receives what it publishes.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest

from sevsync_events.registry import parse_inbound
from tests.cli_runner import clean_env
from tests.conftest import Services
from tests.doc_pages import README, blocks, text

COMMAND_TIMEOUT = 60.0


def the_program() -> str:
    [program] = blocks(text(README), "python")
    return program


@pytest.fixture
async def bound_queue(services: Services) -> AsyncIterator[tuple[str, aio_pika.abc.AbstractQueue]]:
    """An exchange and a queue bound to every routing key on it, as a declared topology has."""
    suffix = uuid.uuid4().hex[:10]
    exchange_name = f"test.readme.crm.events.{suffix}"
    connection = await aio_pika.connect(services.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"test.readme.sevdesk-sync.{suffix}", durable=True)
        await queue.bind(exchange, "#")
        yield exchange_name, queue
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
    finally:
        await connection.close()


async def _run(program: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(program), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_the_readme_publisher_runs_as_written(
    services: Services, bound_queue: tuple[str, aio_pika.abc.AbstractQueue], tmp_path: Path
) -> None:
    exchange, queue = bound_queue
    program = tmp_path / "publisher.py"
    program.write_text(the_program(), encoding="utf-8")
    env = clean_env() | {"SEVSYNC_AMQP_URL": services.amqp_url, "SEVSYNC_EXCHANGE": exchange}

    returncode, stdout, stderr = await _run(program, env)

    assert returncode == 0, stderr
    assert stdout.strip()
    message = await queue.get(timeout=10, fail=True)
    assert message is not None
    event = parse_inbound(message.body)
    assert (event.event_type, event.tenant_id, event.entity_id) == ("product.created", "acme", "prod-8")
    assert message.routing_key == "product.created"
    assert message.message_id == str(event.event_id)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    await message.ack()


async def test_it_fails_loudly_when_no_queue_takes_the_event(services: Services, tmp_path: Path) -> None:
    # The README promises an error, not a silent loss, when no queue is bound (mandatory).
    program = tmp_path / "publisher.py"
    program.write_text(the_program(), encoding="utf-8")
    exchange = f"test.readme.unbound.{uuid.uuid4().hex[:10]}"
    env = clean_env() | {"SEVSYNC_AMQP_URL": services.amqp_url, "SEVSYNC_EXCHANGE": exchange}
    try:
        returncode, _, stderr = await _run(program, env)
    finally:
        connection = await aio_pika.connect(services.amqp_url)
        async with connection:
            await (await connection.channel()).exchange_delete(exchange)
    assert returncode != 0
    assert "EventNotRouted" in stderr
