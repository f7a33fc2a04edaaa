"""SEVSYNC_AMQP_URL with several nodes: the worker, the publisher and the CLI use the one that answers,
a robust connection that loses its node reconnects to another, a publish whose node dies before its
confirm is sent again (or given up after its window, or ended by close()), and when none answers the
CLI's one line names each (password masked).

The "dead node" is a closed port: a socket bound by the test and never listening. The live node is
the test broker; a second name for it (`localhost` for `127.0.0.1`) stands for another node, as do
TcpProxy instances in front of it, which can also stall (hold what is sent) and die (cut).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator

import aio_pika
import asyncpg
import pytest
from aio_pika import Connection
from aio_pika.exceptions import AMQPConnectionError
from cryptography.fernet import Fernet
from pydantic import SecretStr

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync_events.connection import FailoverConnection, NoNodeAnswered, connect, connect_robust
from sevsync_events.publisher import EventPublisher

from ..cli_runner import clean_env, sevsync
from ..conftest import Services
from ..samples import company
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes, wait_until
from .tcp_proxy import TcpProxy

PASSWORD = "s3cret-pw"


@pytest.fixture
def closed_ports() -> Iterator[list[int]]:
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        yield [int(one.getsockname()[1]), int(two.getsockname()[1])]


def _dead(port: int) -> str:
    return f"amqp://guest:{PASSWORD}@127.0.0.1:{port}/"


async def test_a_worker_and_the_publisher_skip_a_dead_node(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, closed_ports: list[int]
) -> None:
    nodes = f"{_dead(closed_ports[0])},{settings.amqp_url.get_secret_value()}"
    settings = settings.model_copy(update={"amqp_url": SecretStr(nodes)})
    await add_tenant(db, settings, sandbox)
    # Each publisher (and the worker) starts at a random node: a few of them try the dead one too.
    events = [envelope("customer.created", company(f"cust-{n}", customer_number=f"K-{n}")) for n in range(3)]
    async with running_worker(settings):
        for event in events:
            async with EventPublisher(nodes, settings.exchange, declare=False) as publisher:
                await publisher.publish_raw(
                    json.dumps(event).encode(), event["event_type"], event["event_id"]
                )
        outcomes = await wait_for_outcomes(db, *events)

    assert [outcome["status"] for outcome in outcomes] == ["succeeded"] * 3


async def test_a_worker_that_loses_its_node_consumes_from_another(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    real_url = settings.amqp_url.get_secret_value()
    await add_tenant(db, settings, sandbox)
    async with TcpProxy.for_url(real_url) as one, TcpProxy.for_url(real_url) as two:
        # Two "nodes" in front of the one broker; aio-pika reads reconnect_interval from the URL.
        nodes = ",".join(proxy.url(real_url, reconnect_interval="0.2") for proxy in (one, two))
        async with running_worker(settings.model_copy(update={"amqp_url": SecretStr(nodes)})):
            lost = one if one.accepted else two
            await lost.cut()  # and it stays down: only the other node can take the worker back
            event = envelope("customer.created", company())
            await publish(settings, event)
            [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]


async def _publish_into_a_dying_node(proxy: TcpProxy, publisher: EventPublisher) -> asyncio.Task[None]:
    """A publish on its way when `proxy`'s node stops answering (no confirm comes) and then dies for good."""
    proxy.stall()
    sending = asyncio.create_task(publisher.publish_raw(b'{"n": 1}', "customer.updated", "evt-2"))
    await wait_until(lambda: proxy.held > 0, message="the publish is on its way")
    await proxy.cut()
    return sending


async def test_a_publish_whose_node_dies_before_its_confirm_is_sent_again_to_another(
    services: Services,
) -> None:
    suffix = uuid.uuid4().hex[:12]
    exchange, queue_name = f"test.failover.{suffix}", f"test.failover.{suffix}"
    direct = await aio_pika.connect(services.amqp_url)
    try:
        channel = await direct.channel()
        bound = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, auto_delete=True)
        queue = await channel.declare_queue(queue_name, exclusive=True)
        await queue.bind(bound, routing_key="#")
        async with TcpProxy.for_url(services.amqp_url) as one, TcpProxy.for_url(services.amqp_url) as two:
            nodes = ",".join(proxy.url(services.amqp_url, reconnect_interval="0.1") for proxy in (one, two))
            async with EventPublisher(nodes, exchange, declare=False) as publisher:
                lost, other = (one, two) if one.accepted else (two, one)
                sending = await _publish_into_a_dying_node(lost, publisher)
                await asyncio.wait_for(sending, timeout=30)
                assert other.accepted == 1

        message = await queue.get(timeout=5)
        await message.ack()
        assert (message.body, message.message_id) == (b'{"n": 1}', "evt-2")
        assert await queue.get(fail=False) is None  # the first copy never reached the broker
    finally:
        await direct.close()


async def test_a_publish_gives_up_when_no_node_comes_back_in_time(services: Services) -> None:
    async with TcpProxy.for_url(services.amqp_url) as only:
        node = only.url(services.amqp_url, reconnect_interval="0.1")
        async with EventPublisher(
            node, "amq.topic", declare=False, mandatory=False, resend_within=1
        ) as publisher:
            sending = await _publish_into_a_dying_node(only, publisher)
            with pytest.raises(
                AMQPConnectionError, match="no RabbitMQ node took the connection back within 1 s"
            ):
                await asyncio.wait_for(sending, timeout=30)


async def test_closing_the_publisher_ends_a_publish_waiting_for_a_node(services: Services) -> None:
    async with TcpProxy.for_url(services.amqp_url) as only:
        node = only.url(services.amqp_url, reconnect_interval="0.1")
        publisher = EventPublisher(node, "amq.topic", declare=False, mandatory=False)
        await publisher.open()
        sending = await _publish_into_a_dying_node(only, publisher)
        await publisher.close()
        # Well before the 60 s the publish would otherwise wait for a node.
        with pytest.raises(RuntimeError, match="closed while publishing"):
            await asyncio.wait_for(sending, timeout=30)


async def test_plain_connect_takes_the_node_that_answers(services: Services, closed_ports: list[int]) -> None:
    for _ in range(4):
        connection = await connect([_dead(closed_ports[0]), services.amqp_url, _dead(closed_ports[1])])
        try:
            assert isinstance(connection, Connection)
            assert connection.url.port not in closed_ports
        finally:
            await connection.close()


async def test_none_answers(closed_ports: list[int]) -> None:
    nodes = [_dead(port) for port in closed_ports]

    with pytest.raises(NoNodeAnswered) as raised:
        await connect_robust(",".join(nodes))

    assert sorted(url for url, _ in raised.value.failures) == sorted(nodes)
    assert PASSWORD not in str(raised.value)


def _other_name(url: str) -> str:
    """The same broker under another host name: a second "node" the test can tell apart."""
    if "127.0.0.1" in url:
        return url.replace("127.0.0.1", "localhost")
    if "localhost" in url:
        return url.replace("localhost", "127.0.0.1")
    pytest.skip("the test broker has no second name")


async def test_a_lost_connection_reconnects_to_the_next_node(services: Services) -> None:
    first = services.amqp_url + ("&" if "?" in services.amqp_url else "?") + "reconnect_interval=0.1"
    second = _other_name(first)
    connection = await connect_robust([first, second])
    assert isinstance(connection, FailoverConnection)
    try:
        before = connection.url.host
        reconnected = asyncio.Event()
        connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        transport = connection.transport
        assert transport is not None
        # The node goes away: the underlying connection closes without the client asking for it.
        await transport.connection.close(ConnectionError("node lost"))
        await asyncio.wait_for(reconnected.wait(), timeout=30)
        await wait_until(lambda: connection.connected.is_set(), message="connected again")

        assert connection.url.host != before
    finally:
        await connection.close()


async def test_a_command_skips_a_dead_node(
    services: Services, closed_ports: list[int], broker_names: dict[str, str]
) -> None:
    env = _env(services, SEVSYNC_AMQP_URL=f"{_dead(closed_ports[0])},{services.amqp_url}")
    env |= {f"SEVSYNC_{key.upper()}": name for key, name in broker_names.items()}

    result = await sevsync("topology", "declare", env=env, secrets=[PASSWORD])

    assert result.returncode == 0, result.stderr


async def test_a_command_names_every_node_when_none_answers(
    services: Services, closed_ports: list[int]
) -> None:
    env = _env(services, SEVSYNC_AMQP_URL=",".join(_dead(port) for port in closed_ports))

    result = await sevsync("topology", "declare", env=env, secrets=[PASSWORD])

    assert result.returncode == 1, result
    [line] = result.stderr.splitlines()
    assert line.startswith("sevsync: error: cannot reach any of 2 RabbitMQ nodes: ")
    for port in closed_ports:
        assert f"amqp://guest:***@127.0.0.1:{port}/: connection refused" in line
    assert PASSWORD not in result.stderr


def _env(services: Services, **overrides: str) -> dict[str, str]:
    return clean_env() | {
        "SEVSYNC_AMQP_URL": services.amqp_url,
        "SEVSYNC_DATABASE_URL": services.postgres_url,
        "SEVSYNC_SECRET_KEYS": Fernet.generate_key().decode(),
        **overrides,
    }
