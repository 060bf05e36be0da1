"""`make up`: the whole platform on one machine, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack import broker, feed_status, postgres, redis_server
from stack.console import Console
from stack.errors import StackError
from stack.processes import Child, spawn, stop_recorded
from stack.services import OPS_PORT_OFFSETS, Service, ops_port, platform_services
from stack.settings import ROOT, StackSettings

# An infrastructure process that dies again this soon after a restart is not restarted.
RESTART_WINDOW_S = 60.0


def owner_pid_file(settings: StackSettings) -> Path:
    """Pid file of the `make up` that owns the running stack."""
    return settings.data_dir / "stack.pid"


def running_owner(settings: StackSettings) -> int | None:
    """The pid of a `make up` still running for this data folder, if any."""
    try:
        pid = int(owner_pid_file(settings).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def check_ports_free(settings: StackSettings, services: bool = True) -> None:
    """Fail early, naming the variable to change, when a port of the stack is taken."""
    ports = [
        ("INPLAY_PG_PORT", settings.pg_port),
        ("INPLAY_REDIS_PORT", settings.redis_port),
        ("INPLAY_KAFKA_PORT", settings.kafka_port),
        ("INPLAY_KAFKA_PORT (+1, the broker's controller)", settings.kafka_controller_port),
    ]
    if services:
        ports.append(("INPLAY_API_PORT", settings.api_port))
        ports.append(("INPLAY_WS_PORT", settings.ws_port))
        ports.append(("INPLAY_WS_PORT (+1, the gateway's metrics)", settings.ws_port + 1))
        for name, offset in OPS_PORT_OFFSETS.items():
            ports.append(
                (f"INPLAY_API_PORT (+{offset}, the {name}'s ops port)", ops_port(settings, name))
            )
    for var, port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((settings.host, port))
            except OSError:
                raise StackError(
                    f"port {port} on {settings.host} is in use; set {var} to a free port"
                ) from None


@dataclass(frozen=True)
class Infra:
    """An infrastructure process: how to start it and how to wait until it answers."""

    name: str
    label: str
    start: Callable[[StackSettings], Child]
    ready: Callable[[StackSettings, Child], Awaitable[None]]
    deadline: float


class Stack:
    """The running processes, stopped in reverse order of start."""

    def __init__(self, settings: StackSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.children: list[Child] = []
        # How to start each infrastructure process again if it dies.
        self.infra: dict[str, Infra] = {}
        self.restarted_at: dict[str, float] = {}

    async def start_infra(self) -> None:
        """PostgreSQL, Redis and Kafka, each waited for until it answers."""
        s, say = self.settings, self.console.say
        if postgres.init_cluster(s):
            say(f"PostgreSQL: created a new cluster in {s.pg_data_dir}")
        say(f"PostgreSQL 15 + TimescaleDB: starting on {s.host}:{s.pg_port}")
        await self._start_infra(
            Infra("postgres", "PostgreSQL", postgres.start, postgres.wait_ready, 60)
        )
        say(f"Redis: starting on {s.host}:{s.redis_port} (data: {redis_server.folder(s)})")
        await self._start_infra(
            Infra("redis", "Redis", redis_server.start, redis_server.wait_ready, 20)
        )
        say(
            f"Apache Kafka {broker.version()}: starting on {s.kafka_bootstrap} "
            f"(KRaft, one node; data: {broker.kafka_dir(s) / 'data'})"
        )
        topics = ", ".join([*TOPICS, DEAD_LETTER_TOPIC])
        await self._start_infra(
            Infra("kafka", f"Kafka and topics ({topics})", broker.start,
                  broker.wait_ready_and_create_topics, 30)
        )  # fmt: skip

    async def _start_infra(self, infra: Infra, at: int | None = None) -> None:
        """Start one infrastructure process (at ``at`` in the stop order) and wait for it."""
        self.infra[infra.name] = infra
        child = infra.start(self.settings)
        if at is None:
            self.children.append(child)
        else:
            self.children.insert(at, child)
        await self.console.wait(
            infra.label, infra.ready(self.settings, child), deadline=infra.deadline
        )

    async def start_services(self, services: list[Service]) -> None:
        """The platform's own processes, one-shot steps run to completion first."""
        env = self.settings.service_env()
        for service in services:
            self.console.say(f"{service.name}: starting ({' '.join(service.argv[1:])})")
            child = self._track(
                spawn(
                    service.name,
                    service.argv,
                    run_dir=self.settings.run_dir,
                    log_dir=self.settings.log_dir,
                    env={**env, **service.env},
                    cwd=ROOT,
                )
            )
            if service.oneshot:
                code = await asyncio.to_thread(child.popen.wait)
                if code != 0:
                    raise StackError(f"{service.name} failed (exit {code}):\n{child.log_tail()}")
                self.children.remove(child)
                child.pid_file.unlink(missing_ok=True)
                self.console.say(f"{service.name}: done")
            elif service.ready_port is not None:
                await self.console.wait(
                    service.name,
                    wait_for_port(self.settings.host, service.ready_port, child),
                    deadline=30,
                )

    def _track(self, child: Child) -> Child:
        self.children.append(child)
        return child

    async def watch(self, stop: asyncio.Event) -> str | None:
        """Until ``stop`` is set: report services that exit, restart infrastructure that dies;
        return why when it cannot be restarted."""
        reported: set[str] = set()
        while not stop.is_set():
            for child in list(self.children):
                if child.alive() or child.name in reported:
                    continue
                code = child.popen.returncode
                if child.name in self.infra:
                    failure = await self._restart(child, code)
                    if failure:
                        return failure
                    continue
                reported.add(child.name)
                self.console.say(f"{child.name} exited (code {code}); last log lines:")
                print(child.log_tail(), flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        return None

    async def _restart(self, child: Child, code: int | None) -> str | None:
        """Start a dead infrastructure process again, as a supervisor would; the platform's
        services reconnect by themselves. One that dies again within a minute of a restart
        is not restarted once more (it would only crash-loop): its log says why."""
        last = self.restarted_at.get(child.name)
        if last is not None and time.monotonic() - last < RESTART_WINDOW_S:
            return f"{child.name} exited (code {code}) again:\n{child.log_tail()}"
        self.restarted_at[child.name] = time.monotonic()
        how = exit_reason(code)
        self.console.say(f"{child.name} exited ({how}): starting it again")
        child.stop()
        at = self.children.index(child)
        self.children.remove(child)
        await self._start_infra(self.infra[child.name], at)
        return None

    def stop_all(self) -> None:
        """Stop every child, newest first, so producers flush before the broker goes."""
        for child in reversed(self.children):
            code = child.stop()
            how = exit_reason(code)
            self.console.say(f"stopped {child.name} ({how})")
        self.children.clear()


def exit_reason(code: int | None) -> str:
    """How a child ended: ``by SIGKILL``, ``exit 1``; a JVM reports its signal as 128 + N."""
    if code is not None and code < 0:
        return f"by {signal.Signals(-code).name}"
    if code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
        return f"by {signal.Signals(code - 128).name}, exit {code}"
    return f"exit {code}"


async def wait_for_port(host: str, port: int, child: Child, timeout: float = 30.0) -> None:
    """Wait until ``port`` accepts connections, failing fast if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not child.alive():
            raise StackError(f"{child.name} exited:\n{child.log_tail()}")
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise StackError(
                    f"{child.name} not listening on {port} after {timeout:.0f}s"
                ) from None
            await asyncio.sleep(0.2)


def addresses(settings: StackSettings, services: list[Service]) -> list[str]:
    """The lines that tell a user where every part of the platform is."""
    rows = [
        ("PostgreSQL+TimescaleDB", f"{settings.pg_dsn}   (data: {settings.pg_data_dir})"),
        ("Redis", settings.redis_url),
        (f"Apache Kafka {broker.version()}", settings.kafka_bootstrap),
    ]
    rows += [(service.name, service.url) for service in services if service.url]
    rows.append(("logs", f"{settings.log_dir}/<process>.log"))
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {value}" for name, value in rows]


async def run(settings: StackSettings) -> int:
    """Start everything, print the addresses and a feed status line, stop on Ctrl-C."""
    console = Console()
    owner = running_owner(settings)
    if owner is not None:
        raise StackError(f"a stack is already running (make up, pid {owner}); `make down` stops it")
    leftovers = stop_recorded(settings.run_dir)
    if leftovers:
        console.say(f"stopped processes left behind by an earlier run: {', '.join(leftovers)}")
    check_ports_free(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    owner_pid_file(settings).write_text(str(os.getpid()))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    stack = Stack(settings, console)
    services = platform_services(settings)
    status: asyncio.Task[None] | None = None
    try:
        await stack.start_infra()
        await stack.start_services(services)
        console.say("inplay is up:")
        print("\n".join(addresses(settings, services)), flush=True)
        print("Ctrl-C stops everything.\n", flush=True)
        status = asyncio.create_task(
            feed_status.report(settings.kafka_bootstrap, console.say, redis_url=settings.redis_url)
        )
        failure = await stack.watch(stop)
        if failure:
            raise StackError(failure)
        console.say("stopping…")
        return 0
    finally:
        if status is not None:
            status.cancel()
            await asyncio.gather(status, return_exceptions=True)
        stack.stop_all()
        owner_pid_file(settings).unlink(missing_ok=True)


def down(settings: StackSettings) -> list[str]:
    """Stop a stack left behind: its `make up` if still running, then any recorded process."""
    stopped: list[str] = []
    owner = running_owner(settings)
    if owner is not None:
        os.kill(owner, signal.SIGTERM)
        for _ in range(300):
            if running_owner(settings) is None:
                break
            time.sleep(0.1)
        stopped.append(f"make up (pid {owner})")
    stopped += stop_recorded(settings.run_dir)
    owner_pid_file(settings).unlink(missing_ok=True)
    return stopped


def main_up(settings: StackSettings) -> int:
    """Entry point of `python -m stack up`."""
    # The status reader's reconnect chatter would interleave with the progress lines.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(run(settings))
    except StackError as exc:
        print(f"make up: {exc}", file=sys.stderr, flush=True)
        return 1
