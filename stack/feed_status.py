"""make up's status line: events per second per topic (from log end offsets) and ingest's lag."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from redis.exceptions import RedisError

from broadcaster import keys
from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack import broker

# Past this ingest p50 (ms) the status line says ingest is behind (a p50: one slow moment
# lifts only the p99 of its window)...
SLOW_LAG_MS = 500
# ...once the stack has run this long: the first windows hold the events that waited for
# ingest to join its group at start-up.
HINT_AFTER_S = 60.0


def format_rates(
    counts: Counter[str],
    seconds: float,
    total: Counter[str],
    lag: dict[str, int] | None = None,
    hint: bool = True,
    dead_letters: int = 0,
) -> str:
    """``feed  games 1.2/s  odds 140.0/s  bets 50.1/s  (total 12,345)  ingest lag p50 …``.

    ``total`` counts since the stack started; ``dead_letters`` is what the dead-letter
    topic holds, so it equals what a reader of the topic counts.
    """
    parts = [f"{topic} {counts[topic] / seconds:,.1f}/s" for topic in TOPICS]
    if dead_letters:
        parts.append(f"dead-letters {dead_letters:,}")
    line = f"feed  {'  '.join(parts)}  (total {sum(total[t] for t in TOPICS):,})"
    if lag:
        line += f"  ingest lag p50 {lag['lag_ms_p50']:,} ms p99 {lag['lag_ms_p99']:,} ms"
        if hint and lag["lag_ms_p50"] > SLOW_LAG_MS:
            line += " (ingest is behind the feed: see .local/logs/ingest.log)"
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

    It reads offsets, not records: counting costs the broker one ListOffsets request a
    window, whatever the feed's rate.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await broker.partitions(bootstrap, (*TOPICS, DEAD_LETTER_TOPIC))
        last = await consumer.end_offsets(parts)
        total: Counter[str] = Counter()
        started = began = time.monotonic()
        while True:
            await asyncio.sleep(every)
            ends = await consumer.end_offsets(parts)
            dead_parts = [tp for tp in parts if tp.topic == DEAD_LETTER_TOPIC]
            starts = await consumer.beginning_offsets(dead_parts)
            dead = sum(ends[tp] - starts[tp] for tp in dead_parts)
            window: Counter[str] = Counter()
            for tp, end in ends.items():
                # A log end that went back is a topic deleted and created again.
                window[tp.topic] += end - last[tp] if end >= last[tp] else end
            total.update(window)
            now = time.monotonic()
            window_lag = await ingest_lag(redis_url) if redis_url else None
            hint = now - began > HINT_AFTER_S
            emit(format_rates(window, now - started, total, window_lag, hint, dead))
            last, started = ends, now
    finally:
        await consumer.stop()
