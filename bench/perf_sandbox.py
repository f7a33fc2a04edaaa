"""The sandbox as its own process (`sevsync sandbox`), driven over its control routes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from bench.chaos import SEVSYNC, _free_port


class SandboxProcess:
    """`sevsync sandbox` in its own process (its CPU is not the driver's), driven over HTTP."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/api/v1"
        self._log = log
        self.process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        log = self._log.open("wb")
        env = {**os.environ, "SEVSYNC_LOG_LEVEL": "WARNING"}
        self.process = await asyncio.create_subprocess_exec(
            SEVSYNC,
            "sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        self._session = aiohttp.ClientSession()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}; see {self._log}")
            try:
                await self.control("GET", "/faults")
                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        raise RuntimeError("the sandbox did not start")

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._session is not None
        async with self._session.request(method, f"{self.root_url}/__sandbox__{path}", json=body) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def add_account(self, token: str) -> None:
        await self.control("POST", "/accounts", {"token": token})

    async def set_latency(self, seconds: float, accounts: Mapping[str, float] | None = None) -> None:
        """Every API call waits `seconds` before it is handled (0: no latency rule at all).

        `accounts` maps a token to the latency of its account's calls instead (account-scoped rules,
        listed first: the first matching rule wins).
        """
        await self.control("DELETE", "/faults")
        for token, own in (accounts or {}).items():
            rule = {"kind": "latency", "seconds": own, "times": None, "token": token}
            await self.control("POST", "/faults", rule)
        if seconds > 0:
            await self.control("POST", "/faults", {"kind": "latency", "seconds": seconds, "times": None})

    async def clear_calls(self) -> None:
        await self.control("DELETE", "/calls")

    async def calls(self) -> Counter[str]:
        """API calls since the last clear, by method and path with ids as `{id}`."""
        answer = await self.control("GET", "/calls")
        counts: Counter[str] = Counter()
        for key, n in answer["counts"].items():
            counts[re.sub(r"/\d+", "/{id}", key)] += n
        return counts

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
