"""`make chaos-cluster`: the chaos run (`bench.chaos`) against a local 3-node RabbitMQ cluster whose
node holding the work queue's leader is SIGKILLed half-way through.

The cluster is this run's own: nodes `sevsync-chaos-N@localhost` on spare ports, with their own
data and log directories, Erlang cookie, HOME and epmd (ERL_EPMD_PORT), no plugins, all under one
temporary directory that is deleted at the end (also on failure or Ctrl-C). The machine's own
RabbitMQ is never touched. Workers get the three node URLs in SEVSYNC_AMQP_URL.

The topology is declared on node 1, then the work queue's leadership is moved off node 1, so that
the node killed is not the one the workers were told of first. Retries wait in Postgres, not in the
broker. See docs/operations.md, "Several workers".

    python -m bench.chaos_cluster [--events 2000] [--tenants 20] [--workers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .chaos import SEVSYNC, ChaosConfig, _free_port, run_chaos

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the scripts themselves, not the wrappers that `su`
NODES = 3
START_TIMEOUT = 120.0


@dataclass
class Node:
    index: int
    amqp_port: int
    dist_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"sevsync-chaos-{self.index}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"


@dataclass
class LocalCluster:
    """Three RabbitMQ nodes and an epmd of their own under `root`; `stop()` removes every trace."""

    root: Path
    epmd_port: int = field(default_factory=_free_port)
    nodes: list[Node] = field(default_factory=list)
    epmd: subprocess.Popen[bytes] | None = None
    killed: Node | None = None

    @classmethod
    def create(cls) -> LocalCluster:
        cluster = cls(Path(tempfile.mkdtemp(prefix="sevsync-cluster-")))
        cluster.nodes = [Node(i, _free_port(), _free_port()) for i in range(1, NODES + 1)]
        home = cluster.root / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (cluster.root / "enabled_plugins").write_text("[].\n")
        (cluster.root / "rabbitmq.conf").write_text("")
        (cluster.root / "rabbitmq-env.conf").write_text("")
        return cluster

    @property
    def urls(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def env(self, node: Node) -> dict[str, str]:
        ctl_port = _free_port()
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.root / "home"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(ctl_port),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(ctl_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / f"node{node.index}" / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / f"node{node.index}" / "log"),
            "RABBITMQ_PID_FILE": str(self.root / f"node{node.index}" / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
        }

    async def start(self) -> None:
        first = self.nodes[0]
        self.epmd = subprocess.Popen(  # noqa: ASYNC220, S603 - our own epmd, stopped by `stop`
            [shutil.which("epmd") or "epmd", "-port", str(self.epmd_port)],
            env=self.env(first),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for node in self.nodes:
            (self.root / f"node{node.index}").mkdir()
            log = (self.root / f"node{node.index}" / "server.log").open("wb")
            node.process = subprocess.Popen(  # noqa: ASYNC220, S603 - stopped by `stop`
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self.env(node),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
        for node in self.nodes:
            await self._started(node)
        for node in self.nodes[1:]:
            await self.ctl(node, "stop_app")
            await self.ctl(node, "join_cluster", first.name)
            await self.ctl(node, "start_app")
        status = await self.ctl(first, "cluster_status")
        running = [node.name for node in self.nodes if node.name in status.split("Running Nodes")[-1]]
        if len(running) != NODES:
            raise RuntimeError(f"the cluster did not form: {status}")

    async def _started(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert node.process is not None
            if node.process.poll() is not None:
                log = (self.root / f"node{node.index}" / "server.log").read_text(errors="replace")
                raise RuntimeError(f"node {node.name} exited while starting: {log[-2000:]}")
            try:
                await self.ctl(node, "await_startup", "--timeout", "10")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(1)

    async def ctl(self, node: Node, *args: str, tool: str = "rabbitmqctl", timeout: float = 60) -> str:
        process = await asyncio.create_subprocess_exec(
            str(RABBITMQ_BIN / tool),
            "-n",
            node.name,
            *args,
            env=self.env(node),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(
                f"{tool} {' '.join(args)} on {node.name}: no answer in {timeout:.0f} s"
            ) from None
        text = out.decode(errors="replace")
        if process.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)} on {node.name} failed: {' '.join(text.split())}")
        return text

    def alive(self) -> list[Node]:
        return [node for node in self.nodes if node is not self.killed]

    async def queue_info(self, queue: str) -> tuple[str, list[str]]:
        """The leader and the members of quorum queue `queue`, as a live node sees them."""
        out = await self.ctl(
            self.alive()[0], "list_queues", "-q", "--no-table-headers", "name", "leader", "members"
        )
        for line in out.splitlines():
            fields = line.split("\t")
            if fields and fields[0] == queue:
                members = [m.strip(" []'\"") for m in fields[2].split(",") if m.strip(" []")]
                return fields[1], members
        raise RuntimeError(f"queue {queue} not found: {out}")

    async def connections(self) -> dict[str, int]:
        """Client connections per node (a connection's pid names its node)."""
        out = await self.ctl(self.alive()[0], "list_connections", "-q", "--no-table-headers", "pid")
        return {node.name: out.count(f"<{node.name}.") for node in self.nodes}

    def kill(self, node: Node) -> None:
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)
        self.killed = node

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                subprocess.run(  # noqa: S603 - our own node
                    [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node.name, "stop"],
                    env=self.env(node),
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
            _kill_group(node.process)
        _kill_group(self.epmd)
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group the process leads: its beam and helpers
    process.wait(timeout=30)


@dataclass
class ClusterChaos:
    cluster: LocalCluster
    workers: int
    notes: list[str] = field(default_factory=list)
    queue: str = ""
    leader: str = ""

    async def prepare(self, env: dict[str, str]) -> None:
        """Declare the topology on node 1, then move the quorum queues' leaders off it."""
        first = self.cluster.nodes[0]
        self.queue = env["SEVSYNC_QUEUE"]
        process = await asyncio.create_subprocess_exec(
            SEVSYNC,
            "topology",
            "declare",
            env={**env, "SEVSYNC_AMQP_URL": first.url},
            stdout=asyncio.subprocess.DEVNULL,
        )
        if await process.wait():
            raise RuntimeError("sevsync topology declare failed")
        await self.cluster.ctl(first, "delete_member", self.queue, first.name, tool="rabbitmq-queues")
        await self.cluster.ctl(first, "add_member", self.queue, first.name, tool="rabbitmq-queues")
        leader, members = await self.cluster.queue_info(self.queue)
        self.notes.append(f"work queue members: {len(members)} ({', '.join(sorted(members))})")
        self.notes.append(f"work queue leader at the start: {leader}")
        self.leader = leader
        if len(members) != NODES:
            raise RuntimeError(f"the work queue has {len(members)} members, not {NODES}")

    async def watch(self, ended: Callable[[], Awaitable[int]], total: int) -> None:
        """Half-way through, SIGKILL the node that holds the work queue's leader."""
        # The leader as `prepare` left it (nothing has failed since): rabbitmqctl takes seconds to
        # start, too long to ask it here, with the kill to come half-way.
        victim = next(node for node in self.cluster.nodes if node.name == self.leader)
        while await ended() < total // 2:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.1)
        self.cluster.kill(victim)
        self.notes.append(
            f"SIGKILLed node {victim.name} (the leader) after {await ended()} of {total} events"
        )
        self.notes.append(f"new leader: {await self._new_leader(victim)}")
        # Every worker has a connection again, to a node that lives (the publisher may be done).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            after = await self.cluster.connections()
            if sum(after.values()) >= self.workers:
                break
            await asyncio.sleep(1)
        self.notes.append(
            f"client connections after the kill: {', '.join(f'{n} {c}' for n, c in after.items())}"
        )

    async def _new_leader(self, victim: Node) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                leader, _ = await self.cluster.queue_info(self.queue)
                if leader != victim.name:
                    return leader
            await asyncio.sleep(0.5)
        return "none within 60 s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make chaos-cluster", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if not (RABBITMQ_BIN / "rabbitmq-server").exists() or shutil.which("epmd") is None:
        print(
            f"make chaos-cluster: error: needs RabbitMQ's scripts in {RABBITMQ_BIN} and epmd", file=sys.stderr
        )
        return 2
    cluster = LocalCluster.create()
    # Ctrl-C and SIGTERM end the run through the `finally` below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(cluster.start())
        chaos = ClusterChaos(cluster, args.workers)
        config = ChaosConfig(
            events=args.events,
            tenants=args.tenants,
            workers=args.workers,
            kills=0,
            seed=args.seed,
            amqp_url=cluster.urls,
        )
        report = asyncio.run(run_chaos(config, prepare=chaos.prepare, watch=chaos.watch))
    finally:
        cluster.stop()
    print("sevsync chaos run against a 3-node RabbitMQ cluster")
    print("\n".join(f"  {note}" for note in chaos.notes))
    print("\n".join(report.lines()))
    print("\n".join(report.verdict_lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
