"""A one-line status of events per second per topic, read from the broker itself."""

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
    """Count new records on every topic (no consumer group, from the log end) forever."""
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
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        window: Counter[str] = Counter()
        total: Counter[str] = Counter()
        started = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                window[tp.topic] += len(records)
                total[tp.topic] += len(records)
            elapsed = time.monotonic() - started
            if elapsed >= every:
                emit(format_rates(window, elapsed, total))
                window.clear()
                started = time.monotonic()
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
