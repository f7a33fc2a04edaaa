"""The FastStream anchor of `make bench`: a minimal FastStream RabbitMQ app, run as its own process.

Per event: FastStream decodes the JSON body, the handler publishes one result (publisher confirms,
FastStream's default) and FastStream acks. No database, no sevDesk call: what a framework's
consume+publish costs, so that the worker's CPU per event has a yardstick measured in the same run.
On uvloop, with the worker's prefetch, fed the same customer.updated events as the worker.

The bench driver consumes the results queue and times each result: those times and counts are what
`measure` reads for the anchor (AnchorTarget), as it reads sync_outcome for the worker.

    python -m bench.perf_faststream --amqp-url ... --exchange X --queue Q --results Q2 --prefetch 64

FastStream is a bench dependency only (`pip install -e '.[bench]'`, done by `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import aio_pika

from bench.perf_baseline import run_on_uvloop
from bench.perf_reference import start_reference, stop_reference
from bench.perf_stack import Stack

READY = "anchor ready"


async def serve(args: argparse.Namespace) -> None:
    from faststream.rabbit import Channel, ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

    broker = RabbitBroker(args.amqp_url, default_channel=Channel(prefetch_count=args.prefetch), logger=None)
    exchange = RabbitExchange(args.exchange, type=ExchangeType.TOPIC, durable=True)
    queue = RabbitQueue(args.queue, durable=True, routing_key="#", queue_type=QueueType.QUORUM)
    results = RabbitQueue(args.results, durable=True)

    async def handle(body: dict[str, Any]) -> None:
        await broker.publish({"event_id": body["event_id"], "status": "succeeded"}, queue=results)

    broker.subscriber(queue, exchange)(handle)  # called, not a decorator: typed without FastStream
    await broker.start()
    await broker.declare_queue(results)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(READY, flush=True)
    await stop.wait()
    await broker.stop()


class AnchorProcess:
    """Starts the anchor for a stack, and collects its results (event id, arrival time) as they come.

    Also the `Target` that `measure` reads: `watermark` is the number of results so far.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.exchange = stack.names["anchor_exchange"]
        self.process: asyncio.subprocess.Process | None = None
        self.results: list[tuple[str, float]] = []
        self.connection: aio_pika.abc.AbstractConnection | None = None

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid]

    async def start(self) -> None:
        stack = self.stack
        args = [
            "--amqp-url",
            stack.config.amqp_url,
            "--exchange",
            self.exchange,
            "--queue",
            stack.names["anchor_queue"],
            "--results",
            stack.names["anchor_results"],
            "--prefetch",
            str(stack.config.prefetch),
        ]
        self.process = await start_reference(
            "bench.perf_faststream", args, stack.log_dir / "faststream.log", READY, "the FastStream anchor"
        )
        await self._collect()

    async def _collect(self) -> None:
        self.connection = await aio_pika.connect(self.stack.config.amqp_url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(self.stack.names["anchor_results"])

        async def record(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.results.append((result_event_id(message.body), time.time()))

        await queue.consume(record, no_ack=True)

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        await stop_reference(self.process)

    async def watermark(self) -> int:
        return len(self.results)

    async def wait_done(self, after: int, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.results) - after >= count:
                return True
            await asyncio.sleep(0.2)
        return False

    async def rows(self, after: int) -> list[dict[str, Any]]:
        return [{"event_id": event_id, "at": at} for event_id, at in self.results[after:]]


def result_event_id(body: bytes) -> str:
    return str(json.loads(body)["event_id"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf_faststream")
    for name in ("--amqp-url", "--exchange", "--queue", "--results"):
        parser.add_argument(name, required=True)
    parser.add_argument("--prefetch", type=int, required=True)
    run_on_uvloop(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
