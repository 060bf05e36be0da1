"""A one-line status of events per second per topic, read from the broker's log end offsets."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from inplay_events import DEAD_LETTER_TOPIC, TOPICS


def format_rates(counts: Counter[str], seconds: float, total: Counter[str]) -> str:
    """``feed  games 1.2/s  odds 140.0/s  bets 50.1/s  (total 12,345)``."""
    parts = [f"{topic} {counts[topic] / seconds:,.1f}/s" for topic in TOPICS]
    if total[DEAD_LETTER_TOPIC]:
        parts.append(f"dead-letters {total[DEAD_LETTER_TOPIC]:,}")
    return f"feed  {'  '.join(parts)}  (total {sum(total[t] for t in TOPICS):,})"


async def report(bootstrap: str, emit: Callable[[str], None], every: float = 5.0) -> None:
    """Print new records per topic every ``every`` seconds, from the log end offsets.

    It reads offsets, not records: with the local broker every fetch that finds data scans
    the partition's whole stored log, and a third consumer reading everything would make
    the feed's own consumers (ingest, sink) fall behind sooner. The local broker reports a
    log end at the start of its last batch (see DESIGN.md), so figures can be a few records
    short; rates over a window are not affected.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in (*TOPICS, DEAD_LETTER_TOPIC)
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        first = await consumer.end_offsets(parts)
        last = dict(first)
        started = time.monotonic()
        while True:
            await asyncio.sleep(every)
            ends = await consumer.end_offsets(parts)
            window: Counter[str] = Counter()
            total: Counter[str] = Counter()
            for tp, end in ends.items():
                window[tp.topic] += max(0, end - last[tp])
                total[tp.topic] += max(0, end - first[tp])
            now = time.monotonic()
            emit(format_rates(window, now - started, total))
            last, started = ends, now
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # Metadata for a topic arrives on first request; ask until the broker knows it.
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    return set()
