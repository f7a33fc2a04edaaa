"""The baseline of `make bench`: a bare aio-pika consumer with no logic, run as its own process.

Per event: parse the JSON, one sandbox GET with the tenant's token, one INSERT into a scratch table,
one result published to the results exchange with publisher confirms (as the worker publishes its
sync.* results), ack. On uvloop, as the worker runs (sevsync.cli), with the worker's prefetch and at
most the worker's concurrency of events at once. Same broker, queue type (quorum), sandbox latency
and database as the worker, so the ratio worker/baseline says what sevsync's own work costs.

    python -m bench.perf_baseline --amqp-url ... --database-url ... --exchange X --queue Q \
        --results-exchange R --prefetch 64 --concurrency 32 \
        --sevdesk-url http://127.0.0.1:PORT/api/v1 --tokens tokens.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from bench.perf_reference import start_reference, stop_reference
from bench.perf_stack import Stack

TABLE = "bench_baseline"
READY = "baseline ready"


async def consume(args: argparse.Namespace, tokens: dict[str, str]) -> None:
    pool = await asyncpg.create_pool(args.database_url, min_size=2, max_size=args.concurrency + 4)
    assert pool is not None
    await pool.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, event_id uuid NOT NULL, "
        "tenant_id text NOT NULL, event_type text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    )
    session = aiohttp.ClientSession()
    connection = await aio_pika.connect_robust(args.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=args.prefetch)
    exchange = await channel.declare_exchange(args.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    out_channel = await connection.channel(publisher_confirms=True)
    results = await out_channel.declare_exchange(
        args.results_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    gate = asyncio.Semaphore(args.concurrency)
    queue = await channel.declare_queue(args.queue, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, routing_key="#")
    url = f"{args.sevdesk_url}/Tools/bookkeepingSystemVersion"

    async def handle(message: AbstractIncomingMessage) -> None:
        async with gate:
            event = json.loads(message.body)
            headers = {"Authorization": tokens[event["tenant_id"]]}
            async with session.get(url, headers=headers) as answer:
                await answer.json()
            await pool.execute(
                f"INSERT INTO {TABLE} (event_id, tenant_id, event_type) VALUES ($1, $2, $3)",  # noqa: S608
                event["event_id"],
                event["tenant_id"],
                event["event_type"],
            )
            result = {"event_id": event["event_id"], "status": "succeeded"}
            await results.publish(
                aio_pika.Message(
                    json.dumps(result).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event["event_id"],
                ),
                routing_key="sync.succeeded",
            )
            await message.ack()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tag = await queue.consume(handle)
    print(READY, flush=True)
    await stop.wait()
    await queue.cancel(tag)
    await connection.close()
    await session.close()
    await pool.close()


class BaselineProcess:
    """Starts the baseline consumer for a stack; its queue is bound to the stack's baseline exchange."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        stack = self.stack
        assert stack.sandbox is not None
        tokens = stack.log_dir / "baseline-tokens.json"
        tokens.write_text(json.dumps(stack.tenants))
        args = [
            "--amqp-url",
            stack.config.amqp_url,
            "--database-url",
            stack.database_url,
            "--exchange",
            stack.names["baseline_exchange"],
            "--queue",
            stack.names["baseline_queue"],
            "--results-exchange",
            stack.names["out_exchange"],
            "--prefetch",
            str(stack.config.prefetch),
            "--concurrency",
            str(stack.config.concurrency),
            "--sevdesk-url",
            stack.sandbox.base_url,
            "--tokens",
            str(tokens),
        ]
        try:
            self.process = await start_reference(
                "bench.perf_baseline", args, stack.log_dir / "baseline.log", READY, "the baseline consumer"
            )
        finally:
            tokens.unlink(missing_ok=True)  # read at start; sandbox tokens, but tokens all the same

    async def stop(self) -> None:
        await stop_reference(self.process)

    async def watermark(self) -> int:
        assert self.stack.pool is not None
        return int(await self.stack.pool.fetchval(f"SELECT coalesce(max(id), 0) FROM {TABLE}"))  # noqa: S608

    async def wait_done(self, after: int, count: int, timeout: float) -> bool:
        assert self.stack.pool is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            done = await self.stack.pool.fetchval(f"SELECT count(*) FROM {TABLE} WHERE id > $1", after)  # noqa: S608
            if done >= count:
                return True
            await asyncio.sleep(0.2)
        return False

    async def rows(self, after: int) -> list[asyncpg.Record]:
        assert self.stack.pool is not None
        return list(
            await self.stack.pool.fetch(
                f"SELECT event_id::text AS event_id, extract(epoch FROM created_at)::float8 AS at "  # noqa: S608
                f"FROM {TABLE} WHERE id > $1",
                after,
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf_baseline")
    for name in ("--amqp-url", "--database-url", "--exchange", "--queue", "--results-exchange"):
        parser.add_argument(name, required=True)
    for name in ("--sevdesk-url", "--tokens"):
        parser.add_argument(name, required=True)
    parser.add_argument("--prefetch", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    tokens: dict[str, str] = json.loads(Path(args.tokens).read_text())
    run_on_uvloop(consume(args, tokens))
    return 0


def run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it exists, as the worker runs (sevsync.cli)."""
    try:
        import uvloop
    except ImportError:  # a platform uvloop does not support
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())
