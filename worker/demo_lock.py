"""One demo of a name at a time on a PostgreSQL server: a second `make demo` with the same
SEVSYNC_DEMO_NAME would drop the first one's database and delete its queues.

A session advisory lock on the server's `postgres` database (the demo's own is dropped and
recreated), held by a connection of a thread of its own for the demo's length: it ends with the
connection, so a killed demo never blocks the next one.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg


def lock_key(name: str) -> str:
    return f"sevsync:demo:{name}"


@contextmanager
def demo_running(server_url: str, name: str) -> Iterator[None]:
    """Hold the demo name's lock while the block runs; SystemExit with one line if another demo of
    this name holds it. `server_url`: a URL of the server's `postgres` database."""
    taken: queue.Queue[bool | BaseException] = queue.Queue()
    finished = threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key(name))
            taken.put(bool(got))
            if got:
                await asyncio.to_thread(finished.wait)
        finally:
            await conn.close()  # ends the lock

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:  # handed to the demo's thread, raised there
            taken.put(exc)

    thread = threading.Thread(target=run, name="demo-lock", daemon=True)
    thread.start()
    try:
        got = taken.get()
        if isinstance(got, BaseException):
            raise got
        if not got:
            raise SystemExit(
                f"demo: another demo named {name!r} is running on this PostgreSQL server; "
                "wait for it, or set SEVSYNC_DEMO_NAME to run one beside it"
            )
        yield
    finally:
        finished.set()
        thread.join()
