"""A worker's assigned partitions: held until positioned, rebuilt quietly where Redis lacks
what the group committed, and how far Redis's marks (``keys.applied``) are known to be.

A partition is paused from its assignment (or from the moment Redis is found to have lost
what ingest applied) until ``position`` has read Kafka's committed offset, the log's bounds
and Redis's mark and decided where it starts (rebuild.py). Rebalances run beside the loop:
every decision taken across an await is dropped when the ``generation`` changed meanwhile,
and the seeks that carry it out happen with no await in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from broadcaster import keys
from broadcaster.ingest.rebuild import Facts, Progress, Start, finished, label, lost, plan
from broadcaster.ingest.redis_scripts import Mark

REBUILDING = "rebuilding Redis from the retained topics"
REBUILT = "rebuilt Redis from the retained topics"
REDIS_LOST = "Redis lost what ingest applied: positioning the partitions again"


def mark_field(tp: TopicPartition) -> str:
    """The partition's field in its group's ``keys.applied`` hash."""
    return keys.applied_field(tp.topic, tp.partition)


async def read_facts(
    consumer: AIOKafkaConsumer,
    redis: aioredis.Redis,
    marks_key: str,
    tps: list[TopicPartition],
    applied: Mapping[TopicPartition, int],
) -> dict[TopicPartition, Facts]:
    """The facts of ``tps``; ``applied`` (what this worker applied) counts as committed."""
    committed = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
    starts = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    marks = await redis.hmget(marks_key, [mark_field(tp) for tp in tps])
    out = {}
    for tp, done, mark in zip(tps, committed, marks, strict=True):
        if tp in applied:
            done = max(done or 0, applied[tp])
        out[tp] = Facts(done, starts[tp], ends[tp], None if mark is None else int(mark))
    return out


class Partitions:
    """The assigned partitions of one worker and what it knows of them."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        redis: aioredis.Redis,
        marks_key: str,
        log: logging.Logger,
        counts: Counter[str],
    ) -> None:
        self._consumer = consumer
        self._redis = redis
        self.marks_key = marks_key
        self._log = log
        self._counts = counts
        # Assigned partitions, positioned (reading) or held (paused until positioned).
        self.positioned: set[TopicPartition] = set()
        self.held: set[TopicPartition] = set()
        # Changes whenever partitions are held or forgotten.
        self.generation = 0
        # Partition -> the offset up to which its records are applied quietly (rebuild).
        self.rebuilding: dict[TopicPartition, int] = {}
        self.progress: Progress | None = None
        # Partition -> how far Redis's mark is known to be, the least each call demands. Kept
        # after a revocation: a call still in flight for it then checks against it too.
        self._marked: dict[TopicPartition, int] = {}
        # Partition -> next offset after the records this worker applied live (and Redis held
        # until it lost them, if it does): a rebuild then goes that far.
        self.done: dict[TopicPartition, int] = {}

    def hold(self, tps: set[TopicPartition]) -> None:
        """Pause assigned partitions until ``position`` decides where they start."""
        tps &= self._consumer.assignment()
        if tps:
            self._consumer.pause(*tps)
        self.positioned -= tps
        self.held |= tps
        self._stop_rebuilding(tps)
        self.generation += 1

    def forget(self, tps: set[TopicPartition]) -> None:
        """Partitions revoked: nothing of them is positioned, held or rebuilt here any more."""
        self.positioned -= tps
        self.held -= tps
        self._stop_rebuilding(tps)
        for tp in tps:
            self.done.pop(tp, None)
        self.generation += 1

    def lost(self, why: str) -> None:
        """Redis no longer holds what ingest applied: position every partition again, which
        rebuilds what the marks say is missing."""
        self._counts["redis_lost"] += 1
        self._log.warning(REDIS_LOST, extra={"why": why})
        self.hold(set(self.positioned))

    async def position(self) -> None:
        """Decide where every held partition starts, write the marks that needs, seek, resume."""
        tps = sorted(self.held)
        if not tps:
            return
        generation = self.generation
        try:
            facts = await read_facts(self._consumer, self._redis, self.marks_key, tps, self.done)
            starts = {tp: plan(f) for tp, f in facts.items()}
            since = 0
            if self.progress is None and any(s.rebuild_until is not None for s in starts.values()):
                seconds, micros = await self._redis.time()
                since = seconds * 1000 + micros // 1000
            writes: dict[FieldT, EncodableT] = {
                mark_field(tp): s.mark for tp, s in starts.items() if s.write_mark
            }
            if writes and generation == self.generation:
                await self._redis.hset(self.marks_key, mapping=writes)
        except (KafkaError, RedisError, OSError) as exc:
            self._log.warning("cannot position partitions yet, retrying", extra={"error": str(exc)})
            await asyncio.sleep(0.5)
            return
        if generation != self.generation:
            return  # held or revoked meanwhile: decided again next round, on fresh facts
        # No await from here on: the seeks and the bookkeeping belong to this assignment.
        for tp, start in starts.items():
            self._consumer.seek(tp, start.offset)
            self._marked[tp] = start.mark
            if start.rebuild_until is not None:
                self.rebuilding[tp] = start.rebuild_until
        self.positioned |= set(starts)
        self.held -= set(starts)
        self._consumer.resume(*starts)
        self._log.info(
            "partitions positioned",
            extra={"offsets": {label(tp): s.offset for tp, s in sorted(starts.items())}},
        )
        rebuilds = {tp: s for tp, s in starts.items() if s.rebuild_until is not None}
        if rebuilds:
            self._start_rebuild(rebuilds, since)

    def marks(self, offsets: Mapping[TopicPartition, int]) -> list[Mark]:
        """The marks of a script call taking these partitions to these offsets."""
        return [
            Mark(mark_field(tp), self._marked[tp], offset)
            for tp, offset in offsets.items()
            if tp in self._marked
        ]

    def applied(self, offsets: Mapping[TopicPartition, int], quiet: bool) -> None:
        """A call taking these partitions to these offsets succeeded."""
        for tp, offset in offsets.items():
            if tp in self._marked:
                self._marked[tp] = max(self._marked[tp], offset)
            if not quiet and tp in self.positioned:
                self.done[tp] = offset

    def quiet_since(self) -> int:
        """The running rebuild's start (Redis time, ms); 0 when none runs (renews nothing)."""
        return self.progress.since_ms if self.progress is not None else 0

    async def check_marks(self) -> None:
        """Look at the marks: Redis may have come back empty while no event came (a call
        would have noticed)."""
        tps = [tp for tp in self.positioned if tp in self._marked]
        if not tps:
            return
        expected = [self._marked[tp] for tp in tps]
        generation = self.generation
        try:
            held = await self._redis.hmget(self.marks_key, [mark_field(tp) for tp in tps])
        except RedisError:
            return
        if generation == self.generation and lost(held, expected):
            self.lost("a partition's mark is missing or lower")

    async def finish_rebuilds(self) -> None:
        """Partitions whose rebuild reached its end read live from now on."""
        for tp, until in list(self.rebuilding.items()):
            try:
                position = await self._consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile
            if self.rebuilding.get(tp) == until and finished(
                position, until, self._consumer.highwater(tp)
            ):
                del self.rebuilding[tp]
                if self.progress is not None:
                    self.progress.finish(tp)
        self._end_rebuild_if_over()

    def _start_rebuild(self, rebuilds: dict[TopicPartition, Start], since_ms: int) -> None:
        self._counts["rebuilds"] += 1
        if self.progress is None:
            self.progress = Progress(since_ms)
        for tp, start in rebuilds.items():
            assert start.rebuild_until is not None
            self.progress.add(tp, start.offset, start.rebuild_until)
        # Kafka still holds what the group committed, Redis does not (it came back empty, or
        # older): snapshots would lack every game until it next changes.
        self._log.warning(
            REBUILDING,
            extra={
                "why": "Redis lacks records the group committed",
                "ranges": {label(tp): [s.offset, s.rebuild_until] for tp, s in rebuilds.items()},
                **self.progress.fields(),
            },
        )

    def _stop_rebuilding(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self.rebuilding.pop(tp, None)
        if self.progress is not None:
            self.progress.drop(tps)
            self._end_rebuild_if_over()

    def _end_rebuild_if_over(self) -> None:
        progress = self.progress
        if progress is None or progress.left:
            return
        self.progress = None
        if progress.dropped:
            # Whoever holds those partitions now (this worker too, maybe) rebuilds them.
            self._log.warning("rebuild interrupted", extra=progress.fields())
        else:
            self._log.info(REBUILT, extra=progress.fields())
