"""The bench's reference consumers (the baseline, the FastStream anchor) as processes of their own:
started until they say they are ready, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.perf_stack import ROOT

READY_SECONDS = 60
STOP_SECONDS = 30


async def start_reference(
    module: str, args: Sequence[str], log: Path, ready: str, what: str
) -> asyncio.subprocess.Process:
    """`python -m module args` from the project's root, once it printed `ready`; its stderr goes to `log`."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), READY_SECONDS)
    if line.decode().strip() != ready:
        raise RuntimeError(f"{what} did not start; see {log}")
    return process


async def stop_reference(process: asyncio.subprocess.Process | None) -> None:
    if process is not None and process.returncode is None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
