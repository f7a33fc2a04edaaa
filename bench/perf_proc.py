"""Process figures from /proc (Linux): CPU time, resident memory and its peak, the machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the highest resident set size the process has had, in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores together, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already part of user time
    return total - idle, total


SERVICES = {"postgres": ("postgres",), "rabbitmq": ("beam.smp", "erl_child_setup", "epmd", "inet_gethost")}


def _all_processes() -> dict[int, tuple[str, float]]:
    """pid -> (command name, CPU seconds) of every process that can be read."""
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


@dataclass
class CpuCensus:
    """Where the machine's CPU went between `start()` and `stop()`, in cores (CPU seconds per second).

    Groups: the named pids, Postgres and RabbitMQ (by command name), and `other`: whatever else
    kept the cores busy (other jobs on the machine, processes that ended meanwhile).
    """

    groups: dict[str, list[int]]
    cores: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds by group
    busy: float | None = None  # all cores together, 0..1
    _processes: dict[int, tuple[str, float]] = field(default_factory=dict)
    _ticks: tuple[int, int] = (0, 0)
    _wall: float = 0.0

    def start(self) -> None:
        self._processes = _all_processes()
        self._ticks = machine_ticks()
        self._wall = time.monotonic()

    def stop(self) -> None:
        wall = time.monotonic() - self._wall
        busy, total = machine_ticks()
        processes = _all_processes()
        used = {pid: cpu - self._processes.get(pid, (comm, 0.0))[1] for pid, (comm, cpu) in processes.items()}
        named = {pid for pids in self.groups.values() for pid in pids}
        seconds = {name: sum(used.get(pid, 0.0) for pid in pids) for name, pids in self.groups.items()}
        for service, names in SERVICES.items():
            seconds[service] = sum(
                u for pid, u in used.items() if pid not in named and processes[pid][0] in names
            )
        busy_seconds = (busy - self._ticks[0]) / CLOCK_TICKS
        seconds["other"] = max(0.0, busy_seconds - sum(seconds.values()))
        self.seconds = seconds
        if wall > 0:
            self.cores = {name: s / wall for name, s in seconds.items()}
        elapsed = total - self._ticks[1]
        self.busy = (busy - self._ticks[0]) / elapsed if elapsed > 0 else None


@dataclass
class CpuMeter:
    """CPU seconds of a set of processes between `start()` and `stop()`."""

    pids: list[int]
    _start: dict[int, float] = field(default_factory=dict)
    used: float = 0.0

    def start(self) -> None:
        self._start = {pid: cpu_seconds(pid) for pid in self.pids}

    def read(self) -> float:
        return sum(cpu_seconds(pid) - self._start[pid] for pid in self.pids)

    def stop(self) -> float:
        self.used = self.read()
        return self.used


@dataclass
class RssSampler:
    """Samples the resident set size of processes every `interval` seconds while running."""

    pids: list[int]
    interval: float = 1.0
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB sum)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                total = sum(rss_mib(pid) for pid in self.pids)
            except (OSError, KeyError):
                return
            self.samples.append((loop.time() - started, total))
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def busy_now(seconds: float = 2.0) -> float:
    """How busy all cores together are over the next `seconds` (0..1), blocking."""
    before = machine_ticks()
    time.sleep(seconds)
    after = machine_ticks()
    elapsed = after[1] - before[1]
    return (after[0] - before[0]) / elapsed if elapsed > 0 else 0.0


def machine() -> dict[str, str | int]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
    }
