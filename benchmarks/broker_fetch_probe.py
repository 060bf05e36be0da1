"""How much of the feed's latency is the local broker's: a bare consumer's lag, and Tansu's CPU.

Starts a Tansu broker of its own, the simulator paced at ``--rate`` events/s, then one plain
aiokafka consumer (no Redis, no gateway) and prints the broker's CPU share and the consumer's
lag (now - record timestamp) over two windows, without and with the consumer.

    .venv/bin/python benchmarks/broker_fetch_probe.py --fetch-max-wait-ms 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
    settings = StackSettings(data_dir=ROOT / ".local" / "probe", kafka_port=args.kafka_port)
    tansu = broker.start(settings)
    producer = None
    try:
        await broker.wait_ready_and_create_topics(settings, tansu)
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

        async def window(label: str, lags: list[float] | None = None) -> None:
            c0, t0 = proc_cpu_s(tansu.pid), time.monotonic()
            if lags is not None:
                lags.clear()
            await asyncio.sleep(args.seconds)
            share = 100 * (proc_cpu_s(tansu.pid) - c0) / (time.monotonic() - t0)
            line = f"{label:<28} tansu CPU {share:3.0f}%"
            if lags:
                ordered = sorted(lags)
                p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
                line += f"   consumer lag p50 {p50:.0f} ms  p99 {p99:.0f} ms  ({len(lags)} records)"
            print(line, flush=True)

        await window("producer only")
        consumer = AIOKafkaConsumer(
            *TOPICS,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id="broker-probe",
            fetch_max_wait_ms=args.fetch_max_wait_ms,
            auto_offset_reset="latest",
        )
        await consumer.start()
        lags: list[float] = []

        async def consume() -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time() * 1000
                lags.extend(now - r.timestamp for records in batches.values() for r in records)

        task = asyncio.create_task(consume())
        await asyncio.sleep(5)  # group join
        await window("with one consumer", lags)
        await window("with one consumer, later", lags)
        task.cancel()
        await consumer.stop()
    finally:
        if producer is not None:
            producer.terminate()
            producer.wait()
        tansu.stop()


def main() -> None:
    """Parse the flags and run the probe."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=1000, help="events/s from the simulator")
    ap.add_argument("--fetch-max-wait-ms", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=15, help="length of each window")
    ap.add_argument("--kafka-port", type=int, default=22092)
    asyncio.run(probe(ap.parse_args()))


if __name__ == "__main__":
    main()
