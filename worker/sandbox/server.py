"""Running the sandbox: :class:`SandboxServer` for tests, :func:`serve` for ``sevsync sandbox``.

The access log names method, path (without query string) and status only: no headers, so API
tokens never reach a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .app import Sandbox
from .faults import FAULT_KEY, LOST_ANSWER
from .wire import API_PREFIX

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("sevsync.sandbox.access")

# Seconds the server waits for in-flight requests on shutdown before cancelling them.
SHUTDOWN_TIMEOUT = 1.0


class SandboxAccessLogger(AbstractAccessLogger):
    """One line per request: method, path, status (or "dropped"), duration, fault kind."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fault = request.get(FAULT_KEY)
        status = "dropped" if fault == LOST_ANSWER else str(response.status)
        suffix = f" [fault {fault}]" if fault else ""
        self.logger.info("%s %s %s %.3fs%s", request.method, request.path, status, time, suffix)


class SandboxServer:
    """Runs a sandbox on ``host``:``port`` (0 = a free port) for the duration of an ``async with``."""

    def __init__(self, sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox()
        self.host = host
        self.port = port
        self.root_url = ""  # e.g. http://127.0.0.1:43123 (control routes live under /__sandbox__)
        self.base_url = ""  # e.g. http://127.0.0.1:43123/api/v1
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        runner = web.AppRunner(
            self.sandbox.app(),
            access_log_class=SandboxAccessLogger,
            access_log=access_logger,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.root_url = f"http://{host}:{self.port}"
        self.base_url = self.root_url + API_PREFIX
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is None:
            return
        # Requests parked in a timeout/latency fault would otherwise hold shutdown for their sleep.
        self.sandbox.faults.interrupt()
        await self._runner.cleanup()
        self._runner = None


async def serve(host: str, port: int, tokens: Sequence[str]) -> None:
    """Serve a sandbox with one account per token until cancelled."""
    sandbox = Sandbox()
    for token in dict.fromkeys(tokens):
        sandbox.add_account(token)
    async with SandboxServer(sandbox, host, port) as server:
        logger.info(
            "sevDesk sandbox serving %s with %d account(s); control routes under %s/__sandbox__ (tests only)",
            server.base_url,
            len(sandbox.accounts),
            server.root_url,
        )
        await asyncio.Event().wait()
