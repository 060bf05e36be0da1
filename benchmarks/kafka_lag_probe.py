"""How much of the feed's latency is Kafka's: a bare consumer's lag, and the broker's CPU.

Starts an Apache Kafka of its own (empty), the simulator paced at ``--rate`` events/s, then
one plain aiokafka consumer (no Redis, no gateway) and prints, window after window, the
broker's CPU share, how many fetch rounds the consumer got and its lag (now - record
timestamp). A broker whose fetches cost more as its log grows shows it in the windows.

    .venv/bin/python benchmarks/kafka_lag_probe.py --windows 12 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer

# benchmarks/ is the script's folder, so first on sys.path.
from procstats import proc_cpu_s

from inplay_events import TOPICS
from stack import broker
from stack.settings import ROOT, StackSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))


async def probe(args: argparse.Namespace) -> None:
    """Run the two phases and print one line each."""
    settings = StackSettings(
        data_dir=ROOT / ".local" / "probe", kafka_port=args.kafka_port, partitions=args.partitions
    )
    shutil.rmtree(broker.kafka_dir(settings), ignore_errors=True)
    kafka = broker.start(settings)
    producer = None
    try:
        await broker.wait_ready_and_create_topics(settings, kafka)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
            "SIM_EVENTS_PER_SEC": str(args.rate),
            "SIM_GAMES": "20",
            "LOG_LEVEL": "WARNING",
        }
        producer = subprocess.Popen(  # noqa: ASYNC220 - started once, not on a hot path
            [sys.executable, "-m", "producer"], env=env, cwd=ROOT
        )

        async def window(label: str, lags: list[float], rounds: list[int]) -> None:
            c0, t0 = proc_cpu_s(kafka.pid), time.monotonic()
            lags.clear()
            rounds[0] = 0
            await asyncio.sleep(args.seconds)
            elapsed = time.monotonic() - t0
            share = 100 * (proc_cpu_s(kafka.pid) - c0) / elapsed
            line = f"{label:<24} kafka CPU {share:3.0f}%"
            if rounds[0]:
                line += f"   fetch rounds {rounds[0] / elapsed:5.0f}/s"
            if lags:
                ordered = sorted(lags)
                p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
                line += f"   consumer lag p50 {p50:5.0f} ms  p99 {p99:5.0f} ms"
            print(line, flush=True)

        lags: list[float] = []
        rounds = [0]
        await window("producer only", lags, rounds)
        consumer = AIOKafkaConsumer(
            *TOPICS,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id="broker-probe",
            fetch_max_wait_ms=args.fetch_max_wait_ms,
            fetch_min_bytes=args.fetch_min_bytes,
            auto_offset_reset="latest",
        )
        await consumer.start()

        async def consume() -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time() * 1000
                rounds[0] += 1
                lags.extend(now - r.timestamp for records in batches.values() for r in records)

        task = asyncio.create_task(consume())
        started = time.monotonic()
        for _ in range(args.windows):
            await window(f"consumer at {time.monotonic() - started:4.0f} s", lags, rounds)
        task.cancel()
        await consumer.stop()
    finally:
        if producer is not None:
            producer.terminate()
            producer.wait()
        kafka.stop()


def main() -> None:
    """Parse the flags and run the probe."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=1000, help="events/s from the simulator")
    ap.add_argument("--fetch-max-wait-ms", type=int, default=10)
    ap.add_argument("--fetch-min-bytes", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5, help="length of each window")
    ap.add_argument("--windows", type=int, default=12, help="windows with the consumer")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    ap.add_argument("--kafka-port", type=int, default=22092)
    asyncio.run(probe(ap.parse_args()))


if __name__ == "__main__":
    main()
