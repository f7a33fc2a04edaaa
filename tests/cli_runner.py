"""Runs commands, above all the installed `sevsync` console script, as subprocesses for the tests.

Every command is awaited through `asyncio.create_subprocess_exec`: many of these tests run the sandbox
in their own event loop, which a blocking `subprocess.run` would starve.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sevsync.config import Settings

SEVSYNC = Path(sys.executable).with_name("sevsync")
COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """The one line a failure prints on stderr (asserts there is exactly one)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {self.stderr!r}"
        return lines[0]

    def json(self) -> Any:
        return json.loads(self.stdout)


def clean_env(*, pythonpath: bool = True) -> dict[str, str]:
    """This process's environment without any SEVSYNC_ variable, so a command sees only the settings a
    test gives it; without PYTHONPATH too where a test chooses what the command imports."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SEVSYNC_") and (pythonpath or k != "PYTHONPATH")
    }


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A clean environment pointing a command at a test's database, broker names and sevDesk."""
    assert settings.secret_keys is not None
    return clean_env() | {
        "SEVSYNC_DATABASE_URL": settings.database_url.get_secret_value(),
        "SEVSYNC_AMQP_URL": settings.amqp_url.get_secret_value(),
        "SEVSYNC_SEVDESK_URL": settings.sevdesk_url,
        "SEVSYNC_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "SEVSYNC_EXCHANGE": settings.exchange,
        "SEVSYNC_QUEUE": settings.queue,
        "SEVSYNC_OUT_EXCHANGE": settings.out_exchange,
        **extra,
    }


async def run(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
    stderr: int | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
    secrets: Iterable[str] = (),
) -> Result:
    """Run `command` to its end. `stdin` is written to it (else it reads nothing); `stderr` may be a
    file descriptor (a terminal) instead of a pipe; no `secrets` may appear in its output."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
        env=dict(env),
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(None if stdin is None else stdin.encode()), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), (err or b"").decode())
    shown = " ".join([Path(command[0]).name, *command[1:]])
    for secret in secrets:
        assert secret not in result.stdout, f"`{shown}` printed a secret on stdout"
        assert secret not in result.stderr, f"`{shown}` printed a secret on stderr"
    return result


async def sevsync(*args: str, env: Mapping[str, str], **options: Any) -> Result:
    """The installed console script; `options` as for `run`."""
    assert SEVSYNC.is_file(), f"the console script is not installed next to {sys.executable}"
    return await run([str(SEVSYNC), *args], env, **options)


class Cli:
    """Runs the installed `sevsync` script in one environment; no output may hold any of `secrets`."""

    def __init__(self, env: dict[str, str], secrets: list[str]) -> None:
        self.env = env
        self.secrets = secrets  # must never appear in any output

    async def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
        return await sevsync(*args, env=self.env | (env or {}), stdin=stdin, secrets=self.secrets)

    async def connect(self, token: str, tenant: str = "acme") -> Result:
        self.secrets.append(token)
        return await self("tenant", "connect", tenant, stdin=token + "\n")
