"""The ingest loop: Kafka batches -> validated events -> one Redis script call per chunk.

Offsets are committed only after Redis has applied (or deliberately dropped) every event
before them, so a crash replays events, and the script's dedupe makes the replay harmless.

A partition is paused from its assignment until it is positioned (partitions.py); where
Redis lacks what the group committed (it came back empty) it is first read again from its
log and applied quietly, state only (rebuild.py). A position outside the log follows the
one rule of inplay_events.log_position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    IllegalStateError,
    KafkaError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
)
from aiokafka.structs import OffsetAndMetadata
from redis.exceptions import RedisError

from broadcaster import keys
from broadcaster.ingest.batch import Chunk, Read, chunks
from broadcaster.ingest.partitions import Partitions
from broadcaster.ingest.redis_scripts import (
    APPLIED,
    DUPLICATE,
    LOST,
    STALE,
    ApplyConfig,
    batch_call,
)
from broadcaster.redis_lua import APPLY_LUA
from broadcaster.settings import IngestSettings
from inplay_events import DEAD_LETTER_TOPIC, TOPICS, InvalidEvent, decode
from inplay_events.deadletter import dead_letter
from inplay_events.log_position import rewind_to_log_start

REPORT_EVERY_S = 5.0
HEARTBEAT_EVERY_S = 1.0


def dead_letter_for(record: ConsumerRecord[bytes, bytes], error: InvalidEvent) -> bytes:
    """The dead-letter record value: the reason, where the event came from and its bytes."""
    return dead_letter(
        "broadcaster-ingest", error, record.topic, record.partition, record.offset, record.value
    )


class _Rebalance(ConsumerRebalanceListener):
    """Commits what was applied before partitions move; holds new ones until positioned."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._ingest.partitions.forget(set(revoked))
        running = self._ingest._committing
        if running is not None:
            with contextlib.suppress(Exception):
                await running
        await self._ingest.commit(force=True)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Paused before anything else (no await before): nothing of them is fetched or
        # applied before ``position`` has decided where each starts.
        self._ingest.partitions.hold(set(assigned))
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
            # No silent reset: an offset outside the log reaches the one rule (``_outside_log``)
            # and every partition is positioned explicitly (partitions.py).
            auto_offset_reset="none",
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
        self.partitions = Partitions(
            self.consumer, self.redis, keys.applied(settings.ingest_group_id), log, self.counts
        )

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
        self.consumer.subscribe(list(TOPICS), listener=_Rebalance(self))
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
        next_report = next_beat = loop.time()
        while not stop.is_set():
            if self.partitions.held:
                await self.partitions.position()
            batches = await self._fetch()
            if batches:
                await self.process(batches)
            if self.partitions.rebuilding:
                await self.partitions.finish_rebuilds()
            # Committing waits on the broker; it runs beside the next fetch, not before it.
            if self._committing is None or self._committing.done():
                self._committing = asyncio.create_task(self.commit())
            now = loop.time()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_EVERY_S
                await self._heartbeat()
            if now >= next_report:
                next_report = now + REPORT_EVERY_S
                lag = self._lag_report()
                self.log.info("ingest", extra={"counts": dict(self.counts), **lag})
                if self.partitions.progress is not None:
                    self.log.info("rebuild progress", extra=self.partitions.progress.fields())
                await self._publish_lag(lag)

    async def _fetch(self) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """The next records; a partition without a position or outside its log yields none."""
        try:
            return await self.consumer.getmany(timeout_ms=100, max_records=2000)
        except NoOffsetForPartitionError as exc:
            # Looked up before ``position`` seeked it, which it will; if ever later, again.
            tp = exc.args[0]
            if tp in self.partitions.positioned:
                self.partitions.hold({tp})
        except OffsetOutOfRangeError as exc:
            await self._outside_log(exc.args[0])
        return {}

    async def _outside_log(self, outside: dict[TopicPartition, int]) -> None:
        """The one rule for positions outside the log: read those partitions from the start."""
        parts = self.partitions
        held = {tp: offset for tp, offset in outside.items() if tp in parts.positioned}
        if not held:
            return  # held partitions are sought anew when positioned
        generation = parts.generation
        try:
            starts = await rewind_to_log_start(self.consumer, held, self.log)
        except IllegalStateError:
            starts = None  # revoked while the rule looked the log starts up
        if starts is None or generation != parts.generation:
            # A rebalance came in between; the rule's seek may undo its positioning.
            parts.hold(set(held))
            return
        self.counts["offset_outside_log"] += len(starts)
        for tp, start in starts.items():
            parts.done[tp] = start
            if tp not in parts.rebuilding:
                # Committed at once: until records arrive nothing else would, and a stored
                # offset outside the log must not linger. (A rebuild keeps its committed end.)
                self._pending[tp] = start

    async def process(self, batches: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        """Validate, dead-letter the invalid, apply the valid to Redis; note next offsets.

        Records of a partition being rebuilt, below its end, are applied quietly, before the
        live ones (of other partitions, or of the same one past its end).
        """
        taken: list[tuple[ConsumerRecord[Any, Any], bool]] = []
        for tp, records in batches.items():
            if tp not in self.partitions.positioned:
                continue  # fetched before its start was decided: the seek reads it again
            until = self.partitions.rebuilding.get(tp)
            taken.extend((r, until is not None and r.offset < until) for r in records)
        quiet: list[Read] = []
        live: list[Read] = []
        for record, is_quiet in taken:
            read = await self._read(record, is_quiet)
            (quiet if is_quiet else live).append(read)
        if quiet and self.partitions.progress is not None:
            self.partitions.progress.read += len(quiet)
        if await self._apply_reads(quiet, quiet=True):
            await self._apply_reads(live, quiet=False)

    async def _read(self, record: ConsumerRecord[Any, Any], quiet: bool) -> Read:
        tp = TopicPartition(record.topic, record.partition)
        try:
            event = decode(record.value or b"")
        except InvalidEvent as exc:
            if quiet:
                self.counts["rebuild_invalid"] += 1  # dead-lettered when it was first read
            else:
                self.counts["invalid"] += 1
                await self._dead_letter(record, exc)
            return Read(tp, record.offset + 1, None)
        if event.type == "alive":
            if not quiet:
                self.counts["alive"] += 1  # feed safety reads these later
            return Read(tp, record.offset + 1, None)
        return Read(tp, record.offset + 1, event)

    async def _apply_reads(self, reads: list[Read], quiet: bool) -> bool:
        """Apply in chunks; False (and every partition held again) when Redis lost its marks."""
        for chunk in chunks(reads, self.settings.ingest_batch_max):
            if not await self._apply(chunk, quiet):
                self.partitions.lost("an apply call found a partition's mark missing or lower")
                return False
            self.partitions.applied(chunk.offsets, quiet)
            if not quiet:
                # Only now may a commit (running beside the next fetch) include them.
                self._pending.update(chunk.offsets)
        return True

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

    async def _apply(self, chunk: Chunk, quiet: bool) -> bool:
        """One atomic script call, retried until Redis answers; False if it answered LOST."""
        marks = self.partitions.marks(chunk.offsets)
        if not chunk.events and not marks:
            return True
        delay = 0.1
        while True:
            try:
                call = batch_call(
                    chunk.events,
                    keys.new_epoch(),
                    self._config,
                    quiet_since=self.partitions.quiet_since() if quiet else None,
                    marks_key=self.partitions.marks_key,
                    marks=marks,
                )
                result = await self._script(keys=call.keys, args=call.args)
                break
            except RedisError as exc:
                self.log.warning("redis unavailable, retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if result == [LOST]:
            return False
        prefix = "rebuild_" if quiet else ""
        if not quiet:
            now_ms = int(time.time() * 1000)
            self._lags.extend(now_ms - e.ts for e in chunk.events)
        for status in result:
            if status == APPLIED:
                self.counts[prefix + "applied"] += 1
            elif status == DUPLICATE:
                self.counts[prefix + "duplicate"] += 1
            elif status == STALE:
                self.counts[prefix + "stale"] += 1
        return True

    def _lag_report(self) -> dict[str, int]:
        """Event-time-to-Redis lag of the window just ended (p50, p99, max), then reset."""
        lags, self._lags = sorted(self._lags), []
        if not lags:
            return {}
        n = len(lags)
        return {
            "lag_ms_p50": lags[n // 2],
            "lag_ms_p99": lags[min(n - 1, n * 99 // 100)],
            "lag_ms_max": lags[-1],
        }

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

    async def _publish_lag(self, lag: dict[str, int]) -> None:
        """Leave the window's lag in Redis for status displays (``make up`` prints it)."""
        if not lag:
            return
        with contextlib.suppress(RedisError):
            await self.redis.set(keys.INGEST_LAG, orjson.dumps(lag), px=30_000)

    async def _heartbeat(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.set(keys.INGEST_HEARTBEAT, int(time.time() * 1000), px=60_000)
        await self.partitions.check_marks()
