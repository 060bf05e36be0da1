"""The ingest loop: Kafka batches -> validated events -> one Redis script call per chunk.

Offsets are committed only after Redis has applied (or deliberately dropped) every event
before them, so a crash replays events, and the script's dedupe makes the replay harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from redis.exceptions import RedisError

from broadcaster import keys
from broadcaster.ingest.redis_scripts import (
    APPLIED,
    APPLY_LUA,
    DUPLICATE,
    STALE,
    ApplyConfig,
    batch_args,
)
from broadcaster.settings import IngestSettings
from inplay_events import DEAD_LETTER_TOPIC, TOPICS, Event, InvalidEvent, decode
from inplay_events.deadletter import dead_letter

REPORT_EVERY_S = 5.0
CHECK_END_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 1.0


def new_epoch() -> str:
    """A fresh epoch id: time-ordered hex plus randomness, never reused."""
    return f"{int(time.time() * 1000):x}{secrets.token_hex(3)}"


def dead_letter_for(record: ConsumerRecord[bytes, bytes], error: InvalidEvent) -> bytes:
    """The dead-letter record value: the reason, where the event came from and its bytes."""
    return dead_letter(
        "broadcaster-ingest", error, record.topic, record.partition, record.offset, record.value
    )


class _Revoked(ConsumerRebalanceListener):
    """Commits what was applied before partitions move to another worker."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        running = self._ingest._committing
        if running is not None:
            with contextlib.suppress(Exception):
                await running
        await self._ingest.commit(force=True)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._ingest.log.info("partitions assigned", extra={"count": len(assigned)})


class Ingest:
    """One ingest worker of the consumer group."""

    def __init__(self, settings: IngestSettings, log: logging.Logger) -> None:
        self.settings = settings
        self.log = log
        self.counts: Counter[str] = Counter()
        self._pending: dict[TopicPartition, int] = {}
        # Event time -> applied in Redis, per event of the current report window (ms).
        self._lags: list[int] = []
        self._last_commit = 0.0
        self._committing: asyncio.Task[None] | None = None
        self._config = ApplyConfig(
            history_maxlen=settings.ingest_history_maxlen,
            history_ttl_ms=int(settings.ingest_history_ttl_s * 1000),
            dedupe_ttl_ms=int(settings.ingest_dedupe_ttl_s * 1000),
            user_bets=settings.ingest_user_bets,
            ended_ttl_ms=int(settings.ingest_ended_ttl_s * 1000),
            user_ttl_ms=int(settings.ingest_user_ttl_s * 1000),
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.ingest_group_id,
            client_id="inplay-broadcaster-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Latency matters more than fetch efficiency here: answer as soon as data exists.
            fetch_max_wait_ms=settings.ingest_fetch_max_wait_ms,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="inplay-broadcaster-dlq",
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
        )
        self.redis = aioredis.from_url(settings.redis_url.get_secret_value())
        self._script = self.redis.register_script(APPLY_LUA)

    async def start(self) -> None:
        """Connect to Kafka (retrying while the broker comes up) and join the group."""
        deadline = time.monotonic() + 60
        while True:
            try:
                await self.producer.start()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                self.log.warning("kafka not reachable yet", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
        self.consumer.subscribe(list(TOPICS), listener=_Revoked(self))
        await self.consumer.start()

    async def stop(self) -> None:
        """Commit what was applied, leave the group, close connections."""
        if self._committing is not None:
            with contextlib.suppress(Exception):
                await self._committing
        try:
            await self.commit(force=True)
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            await self.redis.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        next_report = next_check = next_beat = loop.time()
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            if batches:
                await self.process(batches)
            # Committing waits on the broker; it runs beside the next fetch, not before it.
            if self._committing is None or self._committing.done():
                self._committing = asyncio.create_task(self.commit())
            now = loop.time()
            if now >= next_check:
                next_check = now + CHECK_END_EVERY_S
                await self.check_offsets_past_end()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_EVERY_S
                await self._heartbeat()
            if now >= next_report:
                next_report = now + REPORT_EVERY_S
                lag = self._lag_report()
                self.log.info("ingest", extra={"counts": dict(self.counts), **lag})
                await self._publish_lag(lag)

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        """Validate, dead-letter the invalid, apply the valid to Redis; note next offsets."""
        events: list[Event] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            for record in records:
                try:
                    event = decode(record.value or b"")
                except InvalidEvent as exc:
                    self.counts["invalid"] += 1
                    await self._dead_letter(record, exc)
                    continue
                if event.type == "alive":
                    self.counts["alive"] += 1  # feed safety reads these later
                    continue
                events.append(event)
            if records:
                offsets[tp] = records[-1].offset + 1
        size = self.settings.ingest_batch_max
        for start in range(0, len(events), size):
            await self._apply(events[start : start + size])
        # Only now may a commit (running beside the next fetch) include these offsets.
        self._pending.update(offsets)

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: InvalidEvent) -> None:
        """Park the record on the dead-letter topic; retried until the broker takes it.

        Its offset is not committable before this returns, so waiting loses nothing, and a
        broker hiccup must not end the worker.
        """
        delay = 0.1
        while True:
            try:
                await self.producer.send_and_wait(
                    DEAD_LETTER_TOPIC, dead_letter_for(record, error), key=record.key
                )
                return
            except (KafkaError, OSError) as exc:
                self.log.warning(
                    "dead-letter topic unavailable, retrying", extra={"error": str(exc)}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _apply(self, events: list[Event]) -> None:
        """One atomic script call; retried until Redis answers (offsets wait meanwhile)."""
        delay = 0.1
        while True:
            try:
                args = batch_args(events, new_epoch(), self._config)
                result = await self._script(keys=[], args=args)
                break
            except RedisError as exc:
                self.log.warning("redis unavailable, retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        now_ms = int(time.time() * 1000)
        self._lags.extend(now_ms - e.ts for e in events)
        for status in result:
            if status == APPLIED:
                self.counts["applied"] += 1
            elif status == DUPLICATE:
                self.counts["duplicate"] += 1
            elif status == STALE:
                self.counts["stale"] += 1

    def _lag_report(self) -> dict[str, int]:
        """Event-time-to-Redis lag of the window just ended (p50, p99, max), then reset."""
        lags, self._lags = sorted(self._lags), []
        if not lags:
            return {}
        n = len(lags)
        return {"lag_ms_p50": lags[n // 2], "lag_ms_p99": lags[min(n - 1, n * 99 // 100)],
                "lag_ms_max": lags[-1]}  # fmt: skip

    async def commit(self, force: bool = False) -> None:
        """Commit the offsets after the events Redis has; at most every commit interval."""
        if not self._pending:
            return
        now = time.monotonic()
        if not force and (now - self._last_commit) * 1000 < self.settings.ingest_commit_interval_ms:
            return
        offsets = {tp: OffsetAndMetadata(off, "") for tp, off in self._pending.items()}
        self._pending = {}
        self._last_commit = now
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:
            # A rebalance in between: the new owner replays from the last commit; dedupe
            # absorbs the repeat.
            self.log.warning("commit failed", extra={"error": str(exc)})

    async def check_offsets_past_end(self) -> None:
        """Apply the one rule for a position beyond the log end: restart from the beginning.

        The local broker forgets its logs on restart, so a committed offset can point past
        the end of a new, empty log, and a fetch there returns nothing and no error. Reading
        that partition again from its beginning loses nothing; dedupe drops any repeats.
        """
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self.consumer.position(tp)
            except Exception:
                continue
            if position > highwater:
                self.counts["offset_past_end"] += 1
                self.log.warning(
                    "position past the log end, reading the partition from its beginning",
                    extra={
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "position": position,
                        "highwater": highwater,
                    },
                )
                await self.consumer.seek_to_beginning(tp)
                # Commit the new position too: until records arrive nothing else would, and a
                # stored offset of the old log is what made this partition skip records.
                start = (await self.consumer.beginning_offsets([tp]))[tp]
                self._pending[tp] = start

    async def _publish_lag(self, lag: dict[str, int]) -> None:
        """Leave the window's lag in Redis for status displays (``make up`` prints it)."""
        if not lag:
            return
        with contextlib.suppress(RedisError):
            await self.redis.set(keys.INGEST_LAG, orjson.dumps(lag), px=30_000)

    async def _heartbeat(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.set(keys.INGEST_HEARTBEAT, int(time.time() * 1000), px=60_000)
