"""Workers as real OS processes (`sevsync worker`), for tests that kill, stop or multiply them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

import aiohttp

from sevsync.config import Settings

from ..cli_runner import SEVSYNC

READY_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def worker_env(settings: Settings, http_port: int) -> dict[str, str]:
    """The environment a `sevsync worker` needs to behave like `settings`."""
    assert settings.secret_keys is not None
    return {
        **os.environ,
        "SEVSYNC_AMQP_URL": settings.amqp_url.get_secret_value(),
        "SEVSYNC_DATABASE_URL": settings.database_url.get_secret_value(),
        "SEVSYNC_SEVDESK_URL": settings.sevdesk_url,
        "SEVSYNC_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "SEVSYNC_EXCHANGE": settings.exchange,
        "SEVSYNC_QUEUE": settings.queue,
        "SEVSYNC_OUT_EXCHANGE": settings.out_exchange,
        "SEVSYNC_PREFETCH": str(settings.prefetch),
        "SEVSYNC_RETRY_DELAYS": ",".join(_duration(d.total_seconds()) for d in settings.retry_delays),
        "SEVSYNC_SEVDESK_TIMEOUT": str(settings.sevdesk_timeout),
        "SEVSYNC_SEVDESK_RETRY_ATTEMPTS": str(settings.sevdesk_retry_attempts),
        "SEVSYNC_SEVDESK_RETRY_BUDGET": str(settings.sevdesk_retry_budget),
        "SEVSYNC_SHUTDOWN_TIMEOUT": str(settings.shutdown_timeout),
        "SEVSYNC_WRITE_SETTLE_SECONDS": str(settings.write_settle_seconds),
        "SEVSYNC_MAX_DOCUMENT_BYTES": str(settings.max_document_bytes),
        "SEVSYNC_DOCUMENT_URL_PREFIXES": ",".join(settings.document_url_prefixes),
        "SEVSYNC_HTTP_HOST": "127.0.0.1",
        "SEVSYNC_HTTP_PORT": str(http_port),
        "SEVSYNC_LOG_LEVEL": "INFO",
    }


class WorkerProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = _free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="sevsync-worker-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def start(self) -> WorkerProcess:
        self.process = await asyncio.create_subprocess_exec(
            str(SEVSYNC),
            "worker",
            env=worker_env(self.settings, self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        await self.wait_ready()
        return self

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log_text()}")
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"worker not ready within {timeout} s:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.kill()
            await self.process.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)
