"""Shared helpers of the sink tests: run the sink and the producer, read Kafka back, and
recompute every stored row independently (plain Python, straight from the events)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stack import broker
from stack.settings import ROOT

TOPICS = ("games", "odds", "bets")
WIDTHS_MS = (60_000, 300_000)


def run_id(tag: str) -> str:
    """A run id unique to this test run; hex only, so it is safe inside LIKE patterns."""
    return f"{tag}{secrets.token_hex(4)}"


@dataclass
class Sink:
    """A `python -m storage sink` subprocess with its JSON log in a file."""

    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        """Start (again); output appends to the same log."""
        assert self.popen is None or self.popen.poll() is not None
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "storage", "sink"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> int:
        """SIGKILL: no chance to finish anything; the exit code (``-SIGKILL`` if it was running)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        return self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (other lines, e.g. a traceback, come back as text)."""
        out = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                out.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                out.append({"message": "<text>", "text": raw.decode(errors="replace")})
        return out

    def messages(self, message: str) -> list[dict[str, Any]]:
        """The log lines with this message."""
        return [line for line in self.lines() if line.get("message") == message]


def sink(stack: Any, tmp_path: Path, group: str, **env: str) -> Sink:
    """A sink for ``group`` against the harness services (not started)."""
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": stack.pg_dsn,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "SINK_GROUP_ID": group,
        # Static membership: a restarted sink gets its partitions back without waiting for the
        # killed one's session to time out.
        "SINK_INSTANCE_ID": f"{group}-0",
        "SINK_SESSION_TIMEOUT_MS": "6000",
        "SINK_REPORT_EVERY_S": "1",
        "SINK_RETRY_MAX_S": "1",
        **env,
    }
    return Sink(full, tmp_path / f"sink-{group}.log")


def produce_sim(stack: Any, run: str, limit: int, **env: str) -> None:
    """Run `python -m producer` flat out until ``limit`` events (or the replay's end)."""
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "SIM_PACE": "false",
        "SIM_LIMIT": str(limit),
        "SIM_RUN_ID": run,
        "SIM_SEED": "7",
        # A producer of its own: it never ends (as abandoned) another test's games.
        "PRODUCER_NAME": run,
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "producer"], cwd=ROOT, env=full, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]


async def produce_raw(
    stack: Any, records: Iterable[tuple[str, bytes | None, bytes | None]]
) -> None:
    """Send (topic, key, value) records as they are and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(t, value=v, key=k) for t, k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Read:
    """One record read back from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


async def read_all(stack: Any, topics: Iterable[str], keep: Callable[[Read], bool]) -> list[Read]:
    """Every record of ``topics`` from the log start up to the high watermark, filtered."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await broker.partitions(stack.kafka_bootstrap, topics)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Read] = []
        done: set[TopicPartition] = set()
        deadline = time.monotonic() + 60
        while len(done) < len(tps):
            assert time.monotonic() < deadline, "could not read the topics back"
            batch = await consumer.getmany(timeout_ms=300, max_records=20_000)
            for recs in batch.values():
                for r in recs:
                    item = Read(r.topic, r.partition, r.offset, r.key, r.value)
                    if keep(item):
                        out.append(item)
            # The high watermark of a fetch, not end_offsets() (see DESIGN.md quirks).
            for tp in tps:
                hw = consumer.highwater(tp)
                if hw is not None and await consumer.position(tp) >= hw:
                    done.add(tp)
        return out
    finally:
        await consumer.stop()


async def end_offsets(stack: Any) -> dict[tuple[str, int], int]:
    """Where the event topics end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    await consumer.start()
    try:
        tps = await broker.partitions(stack.kafka_bootstrap, TOPICS)
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): n for tp, n in ends.items()}
    finally:
        await consumer.stop()


def seed_offsets(dsn: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Store offsets for ``group`` as if it had committed them."""
    with psycopg.connect(dsn) as conn:
        for (topic, partition), n in offsets.items():
            conn.execute(
                "INSERT INTO consumer_offsets VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (consumer_group, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset",
                (group, topic, partition, n),
            )


def caught_up(dsn: str, group: str, ends: dict[tuple[str, int], int]) -> bool:
    """Whether ``group`` has committed every partition up to ``ends`` (none stored counts 0)."""
    with psycopg.connect(dsn) as conn:
        stored = {
            (t, p): n
            for t, p, n in conn.execute(
                "SELECT topic, partition, next_offset FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (group,),
            )
        }
    return all(stored.get(tp, 0) >= end for tp, end in ends.items())


def wait_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def keyed(run: str) -> Callable[[Read], bool]:
    """Whether a record belongs to one run (its key, the game id, starts with the run id)."""
    prefix = f"{run}-".encode()
    return lambda r: r.key is not None and r.key.startswith(prefix)


def events_of(reads: Iterable[Read]) -> list[dict[str, Any]]:
    """The decoded events of records."""
    return [orjson.loads(r.value) for r in reads]


@dataclass
class Expected:
    """What the database must hold for one run, recomputed from its events."""

    ticks: int = 0
    game_events: int = 0
    bets: int = 0
    candles: dict[tuple, tuple] = field(default_factory=dict)
    volumes: dict[tuple, tuple] = field(default_factory=dict)
    markets: dict[str, tuple] = field(default_factory=dict)
    games: dict[str, tuple] = field(default_factory=dict)


def recompute(events: Iterable[dict[str, Any]]) -> Expected:
    """The expected rows, from scratch: dedupe by id, group, sort by (ts, seq), take ends."""
    unique: dict[str, dict[str, Any]] = {}
    for e in events:
        unique.setdefault(e["id"], e)
    exp = Expected()
    prices: dict[tuple, list[tuple[int, int, float]]] = defaultdict(list)
    bets: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    for e in unique.values():
        if e["type"] == "odds":
            exp.ticks += len(e["prices"])
            for sel, price in e["prices"].items():
                for w in WIDTHS_MS:
                    prices[(w, e["market_id"], sel, e["ts"] // w * w)].append(
                        (e["ts"], e["seq"], price)
                    )
            best = exp.markets.get(e["market_id"])
            if best is None or best[0] < e["seq"]:
                exp.markets[e["market_id"]] = (e["seq"], e["status"], e["prices"])
        elif e["type"] == "bet":
            exp.bets += 1
            for w in WIDTHS_MS:
                bets[(w, e["market_id"], e["selection_id"], e["ts"] // w * w)].append(
                    (e["stake"], e["price"])
                )
        elif e["type"] == "game":
            exp.game_events += 1
            best = exp.games.get(e["game_id"])
            if best is None or best[0] < e["seq"]:
                exp.games[e["game_id"]] = (
                    e["seq"],
                    e["status"],
                    e["score"]["home"],
                    e["score"]["away"],
                )
    for key, ticks in prices.items():
        ordered = sorted(ticks)
        values = [p for _, _, p in ordered]
        exp.candles[key] = (ordered[0][2], max(values), min(values), ordered[-1][2], len(values))
    for key, items in bets.items():
        exp.volumes[key] = (len(items), sum(s for s, _ in items), sum(s * p for s, p in items))
    return exp


def stored(dsn: str, run: str) -> Expected:
    """What the database holds for one run (ids start with the run id)."""
    like = f"{run}-%"
    got = Expected()
    with psycopg.connect(dsn) as conn:
        q = conn.execute
        got.ticks = q("SELECT count(*) FROM odds_ticks WHERE game_id LIKE %s", (like,)).fetchone()[
            0
        ]
        got.game_events = q(
            "SELECT count(*) FROM game_events WHERE game_id LIKE %s", (like,)
        ).fetchone()[0]
        got.bets = q("SELECT count(*) FROM bets WHERE game_id LIKE %s", (like,)).fetchone()[0]
        for row in q(
            "SELECT (extract(epoch FROM width) * 1000)::bigint, market_id, selection_id,"
            " (extract(epoch FROM bucket) * 1000)::bigint, open, high, low, close, ticks"
            " FROM candles WHERE market_id LIKE %s",
            (like,),
        ):
            got.candles[tuple(row[:4])] = tuple(row[4:])
        for row in q(
            "SELECT (extract(epoch FROM width) * 1000)::bigint, market_id, selection_id,"
            " (extract(epoch FROM bucket) * 1000)::bigint, bets, stake, payout"
            " FROM bet_volume WHERE market_id LIKE %s",
            (like,),
        ):
            got.volumes[tuple(row[:4])] = tuple(row[4:])
        for mid, seq, status, prices in q(
            "SELECT market_id, last_seq, status, prices FROM markets WHERE market_id LIKE %s",
            (like,),
        ):
            got.markets[mid] = (seq, status, prices)
        for gid, seq, status, home, away in q(
            "SELECT game_id, last_seq, status, score_home, score_away FROM games"
            " WHERE game_id LIKE %s",
            (like,),
        ):
            got.games[gid] = (seq, status, home, away)
    return got


def assert_matches(got: Expected, exp: Expected) -> None:
    """Every count, candle, volume and state row equal (payout sums up to float rounding)."""
    assert (got.ticks, got.game_events, got.bets) == (exp.ticks, exp.game_events, exp.bets)
    assert got.candles == exp.candles
    assert got.volumes.keys() == exp.volumes.keys()
    for key, (n, stake, payout) in exp.volumes.items():
        g = got.volumes[key]
        assert (g[0], g[1]) == (n, stake), key
        assert abs(g[2] - payout) <= 1e-9 * max(1.0, payout), key
    assert got.markets == exp.markets
    assert got.games == exp.games


class Proxy:
    """A TCP proxy to PostgreSQL that can cut every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:  # never up: nothing listens already
            self._server.close()
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    def up(self) -> None:
        self._call(self._start())

    def down(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
