"""`make bench --profile`: the worker under py-spy (when installed) or cProfile, and its top functions."""

from __future__ import annotations

import asyncio
import pstats
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BUILD = PROJECT / "build"
CPROFILE_OUTPUT = BUILD / "worker.prof"
PYSPY_OUTPUT = BUILD / "worker.pyspy.txt"
TOP = 25


def cprofile_command(output: Path = CPROFILE_OUTPUT) -> list[str]:
    """The worker started under cProfile; it writes `output` when it exits after SIGTERM."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    return [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "sevsync.cli", "worker"]


def pyspy() -> str | None:
    return shutil.which("py-spy")


# Event-loop and start-up frames that sit above everything: left out of the cumulative list.
PLUMBING = frozenset(
    {
        "<built-in method builtins.exec>",
        "<module>",
        "run_module",
        "_run_code",
        "main",
        "run",
        "run_until_complete",
        "run_forever",
        "_run_once",
        "_run",
        "<method 'run' of '_contextvars.Context' objects>",
        "select",
        "<method 'poll' of 'select.epoll' objects>",
    }
)


def _where(file: str, line: int, function: str) -> str:
    if file == "~":
        return function
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{short}:{line}({function})"


def _package(file: str, function: str) -> str:
    if file == "~":
        return f"builtin {function}"[:60]
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0]
    path = Path(file)
    for name in ("worker", "events", "bench"):
        if path.is_relative_to(PROJECT / name):
            return f"sevsync ({name}/)"
    return "stdlib " + "/".join(path.parts[-2:])


def cprofile_top(path: Path, limit: int = TOP) -> list[str]:
    """Top functions by cumulative time (loop plumbing left out), by own time, and own time by package.

    For coroutines cProfile counts every resumption as a call, so `calls` is not the number of
    invocations there; the times are right.
    """
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = [
        (_where(f, line, fn), fn, f, cc, tt, ct)
        for (f, line, fn), (cc, _nc, tt, ct, _callers) in stats.items()
    ]
    total = sum(r[4] for r in rows)
    idle = sum(r[4] for r in rows if "'poll' of 'select.epoll'" in r[1])
    busy = max(total - idle, 1e-9)
    lines = [
        f"profiled {total:.1f} s, of which {idle:.1f} s waiting in epoll: {busy:.1f} s busy "
        "(percentages below are of the busy time)"
    ]

    def table(title: str, picked: list[tuple[str, str, str, int, float, float]]) -> None:
        lines.append("")
        lines.append(title)
        lines.append(f"  {'calls':>9} {'own s':>7} {'own %':>6} {'cum s':>7} {'cum %':>6}  function")
        for where, _fn, _f, calls, own, cum in picked:
            lines.append(
                f"  {calls:9d} {own:7.2f} {100 * own / busy:6.1f} {cum:7.2f} {100 * cum / busy:6.1f}  {where}"
            )

    cumulative = sorted((r for r in rows if r[1] not in PLUMBING), key=lambda r: r[5], reverse=True)
    table(
        f"-- top {limit} by cumulative time (event-loop plumbing above the handlers left out)",
        cumulative[:limit],
    )
    own = sorted(
        (r for r in rows if "'poll' of 'select.epoll'" not in r[1]), key=lambda r: r[4], reverse=True
    )
    table(f"-- top {limit} by own time (epoll wait left out)", own[:limit])
    packages: Counter[str] = Counter()
    for _, fn, f, _calls, tt, _ct in rows:
        if "'poll' of 'select.epoll'" not in fn:
            packages[_package(f, fn)] += tt
    lines += ["", "-- own time by package (epoll wait left out)"]
    lines += [
        f"  {seconds:7.2f} {100 * seconds / busy:6.1f} %  {name}"
        for name, seconds in packages.most_common(20)
    ]
    return lines


@dataclass(frozen=True)
class FunctionCost:
    function: str
    total: int  # samples with the function anywhere on the stack
    own: int  # samples with the function at the top of the stack


def collapsed_costs(lines: Iterable[str]) -> list[FunctionCost]:
    """Aggregate py-spy's raw (collapsed) output: `frame;frame;...;leaf count` per line."""
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        for frame in set(frames):
            total[frame] += count
        if frames:
            own[frames[-1]] += count
    return [FunctionCost(f, total[f], own[f]) for f in total]


def pyspy_top(path: Path, limit: int = TOP) -> tuple[list[FunctionCost], list[FunctionCost], int]:
    """The functions with the most samples on the stack, those with the most own samples, all samples."""
    lines = path.read_text().splitlines()
    costs = collapsed_costs(lines)
    samples = sum(int(line.rpartition(" ")[2]) for line in lines if line.rpartition(" ")[2].isdigit())
    by_total = sorted(costs, key=lambda c: c.total, reverse=True)[:limit]
    by_own = sorted(costs, key=lambda c: c.own, reverse=True)[:limit]
    return by_total, by_own, samples


class PySpyRecorder:
    """`py-spy record --format raw` attached to a running worker; stopped with SIGINT to write."""

    def __init__(self, executable: str, output: Path = PYSPY_OUTPUT) -> None:
        self._executable = executable
        self.output = output
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, pid: int) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            self._executable,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(self.output),
            "--rate",
            "200",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def stop(self) -> bool:
        if self._process is None:
            return False
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
            await asyncio.wait_for(self._process.wait(), 30)
        return self.output.exists()


def format_costs(title: str, costs: list[FunctionCost], samples: int) -> list[str]:
    lines = [title, f"  {'total %':>8} {'own %':>7}  function"]
    for c in costs:
        lines.append(
            f"  {100 * c.total / max(samples, 1):8.1f} {100 * c.own / max(samples, 1):7.1f}  {c.function}"
        )
    return lines
