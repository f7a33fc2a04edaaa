"""`make bench`: throughput, latency, sevDesk calls, CPU and memory of the worker, against a baseline.

Real worker processes consume from the real RabbitMQ, write to the real Postgres and call the
bundled sandbox (its own process) with a configurable latency per call. A bare aio-pika consumer
(one sandbox GET and one INSERT per event) runs the same events at the same latency, so every
figure comes with a ratio worker/baseline. Scenarios:

  latency    the realistic mix over many tenants, 100 ms per sevDesk call: events/s, calls per event
             against the minimum, throughput against what the concurrency allows, then end-to-end
             latency at a fixed share of that throughput
  isolation  the mix, then a new mix with one tenant slow (account-scoped sandbox latency) and busy
             (extra rounds): the other tenants' events/s and latency against the first phase's
  cpu        no latency: CPU per event for each event type, measured batch by batch
  scale      the mix with 1 and N worker processes on one queue; per-entity order verified
  backlog    a large backlog published before the worker starts: peak RSS
  reconcile  one tenant with 10,000 linked contacts and 2,000 linked parts: the sevDesk calls, time
             and CPU of an unchanged reconciliation and of one after 20 changes, against the design

    python -m bench.perf [--scenarios latency,isolation,cpu,scale,backlog,reconcile] [--tenants 200] ...
    python -m bench.perf --profile     # the cpu scenario with the worker under py-spy or cProfile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from bench import perf_profile
from bench.perf_proc import busy_now, machine
from bench.perf_report import render_table
from bench.perf_scenarios import Config, Results, run_scenarios
from bench.perf_summary import scenario_tables
from bench.perf_targets import TARGET_HEADERS, target_rows

SCENARIOS = ("latency", "isolation", "cpu", "scale", "backlog", "reconcile")
RESULTS_JSON = Path("build/bench-results.json")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make bench", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--scenarios", default=None, help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--tenants", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2, help="rounds of the mix per tenant (21 events each)")
    p.add_argument("--latency", type=float, default=0.1, help="seconds per sevDesk call [0.1]")
    p.add_argument(
        "--prefetch", type=int, default=64, help="SEVSYNC_PREFETCH: deliveries held per worker process [64]"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="latency: SEVSYNC_CONCURRENCY, events at once per worker process and in the baseline; "
        "scale is measured at it too [32, the product's default]",
    )
    p.add_argument(
        "--isolation-concurrency",
        type=int,
        default=32,
        help="isolation: SEVSYNC_CONCURRENCY of the worker [32, the product's default]",
    )
    p.add_argument(
        "--tenant-concurrency",
        type=int,
        default=4,
        help="SEVSYNC_TENANT_CONCURRENCY: events of one tenant at once per worker process [4]",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes in the latency scenario")
    p.add_argument("--scale-workers", type=int, default=3, help="processes compared with 1 in scale")
    p.add_argument(
        "--scale-concurrency", type=int, default=8, help="scale: SEVSYNC_CONCURRENCY of each process [8]"
    )
    p.add_argument("--load", type=float, default=0.5, help="paced load, share of measured events/s")
    p.add_argument("--paced-seconds", type=float, default=20.0)
    p.add_argument(
        "--slow-latency", type=float, default=1.0, help="isolation: seconds per call of the slow tenant [1.0]"
    )
    p.add_argument(
        "--slow-rounds", type=int, default=5, help="isolation: extra rounds of the slow tenant [5]"
    )
    p.add_argument("--cpu-tenants", type=int, default=200)
    p.add_argument("--cpu-entities", type=int, default=5, help="cpu: entities of each kind per tenant")
    p.add_argument("--update-rounds", type=int, default=3, help="cpu: customer.updated rounds")
    p.add_argument("--backlog-events", type=int, default=50_000)
    p.add_argument(
        "--backlog-seconds", type=float, default=0.0, help="backlog: run this long [0: until drained]"
    )
    p.add_argument("--backlog-latency", type=float, default=0.0)
    p.add_argument("--reconcile-contacts", type=int, default=10_000, help="reconcile: linked contacts")
    p.add_argument("--reconcile-parts", type=int, default=2_000, help="reconcile: linked parts")
    p.add_argument("--log-level", default="INFO", help="SEVSYNC_LOG_LEVEL of the workers [INFO]")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per measured phase")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--profile", action="store_true", help="the cpu scenario with the worker profiled")
    p.add_argument("--json", type=Path, default=RESULTS_JSON)
    add_service_arguments(p)
    return p


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--amqp-url", default=os.environ.get("SEVSYNC_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("SEVSYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )


def config_from(args: argparse.Namespace) -> Config:
    chosen = args.scenarios or ("cpu" if args.profile else ",".join(SCENARIOS))
    scenarios = tuple(s.strip() for s in chosen.split(",") if s.strip())
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"make bench: unknown scenario(s): {', '.join(sorted(unknown))}")
    if "isolation" in scenarios and args.tenants < 2:
        raise SystemExit("make bench: the isolation scenario needs at least 2 tenants")
    return Config(
        scenarios=scenarios,
        tenants=args.tenants,
        rounds=args.rounds,
        latency=args.latency,
        prefetch=args.prefetch,
        concurrency=args.concurrency,
        tenant_concurrency=args.tenant_concurrency,
        workers=args.workers,
        scale_workers=args.scale_workers,
        scale_concurrency=args.scale_concurrency,
        isolation_concurrency=args.isolation_concurrency,
        load=args.load,
        paced_seconds=args.paced_seconds,
        slow_latency=args.slow_latency,
        slow_rounds=args.slow_rounds,
        cpu_tenants=args.cpu_tenants,
        cpu_entities=args.cpu_entities,
        update_rounds=args.update_rounds,
        backlog_events=args.backlog_events,
        backlog_seconds=args.backlog_seconds,
        backlog_latency=args.backlog_latency,
        reconcile_contacts=args.reconcile_contacts,
        reconcile_parts=args.reconcile_parts,
        log_level=args.log_level.upper(),
        seed=args.seed,
        timeout=args.timeout,
        baseline=not args.no_baseline,
        profile=args.profile,
        amqp_url=args.amqp_url,
        postgres_url=args.database_url,
    )


def print_header(config: Config, host: dict[str, Any]) -> None:
    print("sevsync bench")
    print(
        f"  machine: {host['cpu']}, {host['cores']} cores, {host['implementation']} {host['python']}, "
        f"Linux {host['kernel']}"
    )
    print(
        f"  machine busy before the start: {host['busy_before_start'] * 100:.0f} % of all cores "
        "(other jobs on the machine skew every figure; see `other` in the CPU lines)"
    )
    print("  parameters: " + ", ".join(f"{k}={v}" for k, v in config.public().items()))
    print(flush=True)


def print_profile(results: Results) -> None:
    profile = results.profile
    if not profile:
        return
    print()
    print(
        f"== profile of the worker ({profile['tool']}, cpu scenario; CPU figures above include its overhead)"
    )
    if profile["tool"] == "cProfile":
        print("\n".join(perf_profile.cprofile_top(Path(profile["path"]))))
    else:
        by_total, by_own, samples = perf_profile.pyspy_top(Path(profile["path"]))
        print("\n".join(perf_profile.format_costs(f"-- top {perf_profile.TOP} by total", by_total, samples)))
        print("\n".join(perf_profile.format_costs(f"-- top {perf_profile.TOP} by own", by_own, samples)))


def _jsonable(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from(args)
    host: dict[str, Any] = dict(machine())
    host["busy_before_start"] = round(busy_now(), 3)
    print_header(config, host)
    started = time.monotonic()
    results = asyncio.run(run_scenarios(config))
    results.seconds = time.monotonic() - started
    print()
    for lines in scenario_tables(results):
        print("\n".join(lines))
        print()
    targets = target_rows(results)
    print("== targets (issue 18; ratios within this run)")
    print("\n".join(render_table(TARGET_HEADERS, targets)))
    print_profile(results)
    print()
    print(f"whole run: {results.seconds:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": host,
        "parameters": config.public(),
        "seconds": round(results.seconds, 1),
        "scenarios": results.scenarios,
        "targets": [dict(zip(TARGET_HEADERS, row, strict=True)) for row in targets],
    }
    args.json.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
