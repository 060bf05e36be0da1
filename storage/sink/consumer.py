"""The Kafka edge: group membership, seeking to the stored offsets, and the log-end rule.

Offsets are never committed to Kafka; the database holds them (see writer.py). On assignment
each partition seeks to its stored offset. A stored offset outside the log (Kafka's data was
wiped and the database kept, or retention went past it) follows the one rule of
inplay_events.log_position: the partition is read again from its log start, and the stored
offset is set there too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import NoOffsetForPartitionError, OffsetOutOfRangeError

from inplay_events.log_position import rewind_to_log_start
from storage.sink.writer import Writer

Batch = dict[TopicPartition, list[ConsumerRecord]]


class _Listener(ConsumerRebalanceListener):
    def __init__(self, sink: SinkConsumer) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Waits for the batch in hand to commit: its partitions may go to another consumer.
        async with self._sink.batch_lock:
            pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._sink.seek_to_stored(assigned)


class SinkConsumer:
    """An aiokafka group consumer positioned from the database's offsets."""

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: tuple[str, ...],
        writer: Writer,
        log: logging.Logger,
        session_timeout_ms: int = 10_000,
        instance_id: str | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        self._topics = topics
        self._writer = writer
        self._log = log
        self._on_reset = on_reset
        # Held while a batch is being written; a revocation waits for it.
        self.batch_lock = asyncio.Lock()
        self.lag = 0
        # Next offset after the last record read, per partition (for the lag figure).
        self._read_to: dict[TopicPartition, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            group_instance_id=instance_id,
            client_id="inplay-sink",
            enable_auto_commit=False,
            # No silent reset: an out-of-range offset surfaces here and follows the rule.
            auto_offset_reset="none",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 5),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )

    async def start(self) -> None:
        """Connect and join the group."""
        await self._consumer.start()
        self._consumer.subscribe(list(self._topics), listener=_Listener(self))

    async def stop(self) -> None:
        """Leave the group."""
        await self._consumer.stop()

    async def seek_to_stored(self, assigned: set[TopicPartition], why: str = "assigned") -> None:
        """Position every newly assigned partition at its stored offset."""
        stored = await self._writer.load_offsets([(tp.topic, tp.partition) for tp in assigned])
        fresh = []
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                fresh.append(tp)
            else:
                self._consumer.seek(tp, offset)
        if fresh:
            # Never committed: from the log start. Requested now, before the first fetch, since
            # with auto_offset_reset="none" a partition without a position is an error.
            await self._consumer.seek_to_beginning(*fresh)
        self._log.info(
            "partitions positioned at their stored offsets",
            extra={
                "why": why,
                "partitions": sorted(f"{tp.topic}-{tp.partition}" for tp in assigned),
                "stored": len(stored),
            },
        )

    async def seek_back(self, partitions: set[tuple[str, int]]) -> None:
        """Re-position partitions at their stored offsets (after a stale batch)."""
        assigned = self._consumer.assignment()
        tps = {TopicPartition(t, p) for t, p in partitions} & assigned
        if tps:
            await self.seek_to_stored(tps, "stale batch")

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:
        """The next records; a position outside the log follows the rule (and yields none)."""
        try:
            batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except NoOffsetForPartitionError as exc:
            # The fetcher looked for a Kafka-committed offset before the listener's seek landed.
            tp = exc.args[0]
            if tp in self._consumer.assignment():
                await self.seek_to_stored({tp}, "no position")
            return {}
        except OffsetOutOfRangeError as exc:
            await self._rewind(exc.args[0])
            return {}
        for tp, records in batch.items():
            self._read_to[tp] = records[-1].offset + 1
        self.lag = self._lag()
        return batch

    def _lag(self) -> int:
        """Records behind the high watermarks the last fetches carried."""
        lag = 0
        for tp in self._consumer.assignment():
            highwater, read_to = self._consumer.highwater(tp), self._read_to.get(tp)
            if highwater is not None and read_to is not None:
                lag += max(0, highwater - read_to)
        return lag

    async def _rewind(self, outside: dict[TopicPartition, int]) -> None:
        starts = await rewind_to_log_start(self._consumer, outside, self._log)
        for tp, start in starts.items():
            await self._writer.reset_offset((tp.topic, tp.partition), outside[tp], start)
        if starts and self._on_reset is not None:
            self._on_reset()
