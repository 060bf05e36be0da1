"""make up's status line: events per second per topic (from log end offsets) and ingest's lag."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.exceptions import RedisError

from broadcaster import keys
from inplay_events import DEAD_LETTER_TOPIC, TOPICS

# Past this ingest p50 (ms) the status line says why and what to do (a p50, not a p99: a
# topic rotation's pause shows in the p99 of its window and is no reason to restart)...
SLOW_LAG_MS = 500
# ...once the stack has run this long: the first windows hold the events that waited for
# ingest to join its group at start-up, which no restart would change.
HINT_AFTER_S = 60.0


def format_rates(
    counts: Counter[str],
    seconds: float,
    total: Counter[str],
    lag: dict[str, int] | None = None,
    hint: bool = True,
) -> str:
    """``feed  games 1.2/s  odds 140.0/s  bets 50.1/s  (total 12,345)  ingest lag p50 …``."""
    parts = [f"{topic} {counts[topic] / seconds:,.1f}/s" for topic in TOPICS]
    if total[DEAD_LETTER_TOPIC]:
        parts.append(f"dead-letters {total[DEAD_LETTER_TOPIC]:,}")
    line = f"feed  {'  '.join(parts)}  (total {sum(total[t] for t in TOPICS):,})"
    if lag:
        line += f"  ingest lag p50 {lag['lag_ms_p50']:,} ms p99 {lag['lag_ms_p99']:,} ms"
        if hint and lag["lag_ms_p50"] > SLOW_LAG_MS:
            line += " (the local broker slows down as its log grows: restart make up)"
    return line


async def ingest_lag(redis_url: str) -> dict[str, int] | None:
    """Ingest's last reported lag window, or None (not reported yet, or Redis not there)."""
    client = aioredis.from_url(redis_url)
    try:
        raw = await client.get(keys.INGEST_LAG)
    except RedisError:
        return None
    finally:
        await client.aclose()
    return orjson.loads(raw) if raw else None


async def report(
    bootstrap: str,
    emit: Callable[[str], None],
    every: float = 5.0,
    redis_url: str | None = None,
) -> None:
    """Print new records per topic every ``every`` seconds, from the log end offsets, and
    ingest's lag when ``redis_url`` is given.

    It reads offsets, not records: with the local broker every fetch that finds data scans
    the partition's whole stored log, and a third consumer reading everything would make
    the feed's own consumers (ingest, sink) fall behind sooner. The local broker reports a
    log end at the start of its last batch (see DESIGN.md), so a window can be short by up
    to a batch per partition (after a burst, hundreds of records); the next one makes it up.
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
        last = await consumer.end_offsets(parts)
        total: Counter[str] = Counter()
        started = began = time.monotonic()
        while True:
            await asyncio.sleep(every)
            ends = await consumer.end_offsets(parts)
            window: Counter[str] = Counter()
            for tp, end in ends.items():
                # A log end that went back is a recreated topic (stack/rotation.py).
                window[tp.topic] += end - last[tp] if end >= last[tp] else end
            total.update(window)
            now = time.monotonic()
            window_lag = await ingest_lag(redis_url) if redis_url else None
            emit(format_rates(window, now - started, total, window_lag, now - began > HINT_AFTER_S))
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
