"""Sink throughput with rollups, per write mode: events/s from first fetch to last commit.

Produces ``--events`` fresh simulator events per mode (a new run id each, so every row is
really new), then runs the sink's own pipeline (consumer → rows → one transaction per batch)
in this process from where the logs ended before producing, until all are committed.

    .venv/bin/python benchmarks/sink_bench.py --events 200000
      [--bootstrap 127.0.0.1:19092] [--dsn postgresql://postgres@127.0.0.1:15432/inplay]
      [--modes copy,executemany] [--batch 20000]

Uses a stack that is up (`make up`, or any Kafka + migrated TimescaleDB); writes rows of
runs named ``bench<hex>`` and consumer groups ``sink-bench-<hex>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import uvloop
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack import broker  # noqa: E402
from storage.sink import rows  # noqa: E402
from storage.sink.consumer import SinkConsumer  # noqa: E402
from storage.sink.writer import Writer  # noqa: E402

TOPICS = ("games", "odds", "bets")


def produce(bootstrap: str, run: str, n: int) -> float:
    """Produce ``n`` events flat out with the real producer; its wall time."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SIM_PACE": "false",
        "SIM_LIMIT": str(n),
        "SIM_RUN_ID": run,
        "SIM_SEED": "5",
        "PRODUCER_NAME": run,  # counts only its own events: ends no earlier run's games
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "producer"], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


async def log_ends(bootstrap: str) -> dict[tuple[str, int], int]:
    """The high watermark of every partition, read from a real fetch (not end_offsets())."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await broker.partitions(bootstrap, TOPICS)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        ends: dict[tuple[str, int], int] = {}
        while len(ends) < len(tps):
            await consumer.getmany(timeout_ms=200, max_records=1)
            for tp in tps:
                hw = consumer.highwater(tp)
                if hw is not None:
                    ends[(tp.topic, tp.partition)] = hw
        return ends
    finally:
        await consumer.stop()


def seed(dsn: str, group: str, ends: dict[tuple[str, int], int]) -> None:
    """Start the group where the logs ended."""
    with psycopg.connect(dsn) as conn:
        for (topic, partition), n in ends.items():
            conn.execute(
                "INSERT INTO consumer_offsets VALUES (%s, %s, %s, %s)",
                (group, topic, partition, n),
            )


async def sink_until(
    bootstrap: str, dsn: str, group: str, mode: str, n: int, batch: int
) -> tuple[float, float, int, int]:
    """Run the pipeline until ``n`` events are committed; (seconds, CPU seconds, events, ticks)."""
    log = logging.getLogger("bench")
    writer = Writer(dsn, group, log, mode=mode)  # type: ignore[arg-type]
    consumer = SinkConsumer(bootstrap, group, TOPICS, writer, log)
    await consumer.start()
    events = ticks = 0
    started: float | None = None
    cpu0 = 0.0
    try:
        while events < n:
            fetched = await consumer.getmany(200, batch)
            if not fetched:
                continue
            if started is None:
                started, cpu0 = time.perf_counter(), time.process_time()
            async with consumer.batch_lock:
                out = rows.build(r for recs in fetched.values() for r in recs)
                result = await writer.write(out)
            events += out.events
            ticks += result.ticks
        assert started is not None
        return time.perf_counter() - started, time.process_time() - cpu0, events, ticks
    finally:
        await consumer.stop()
        await writer.close()


async def main() -> None:
    """Parse flags, then produce and sink once per mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/inplay"),
    )
    parser.add_argument("--modes", default="copy,executemany")
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"sink benchmark: {args.events:,} fresh events per mode, batches of {args.batch}")
    for mode in args.modes.split(","):
        tag = secrets.token_hex(3)
        run, group = f"bench{tag}", f"sink-bench-{tag}"
        ends = await log_ends(args.bootstrap)
        seed(args.dsn, group, ends)
        produced = produce(args.bootstrap, run, args.events)
        seconds, cpu, events, ticks = await sink_until(
            args.bootstrap, args.dsn, group, mode, args.events, args.batch
        )
        print(
            f"{mode:>12}: {events:,} events ({ticks:,} odds ticks) in {seconds:.2f} s"
            f" = {events / seconds:,.0f} events/s; sink process CPU {cpu / seconds:.0%}"
            f" (produced in {produced:.1f} s)"
        )


if __name__ == "__main__":
    uvloop.run(main())
