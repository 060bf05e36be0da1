"""The Kafka edge that reads back what this producer sent before: its own records, by header."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from inplay_events import BetEvent, GameEvent, InvalidEvent, OddsEvent, decode
from producer.kafka_sink import PRODUCER_HEADER

POLL_MS = 200
MAX_RECORDS = 10_000


@dataclass(frozen=True, slots=True)
class OwnRecord:
    """One of this producer's earlier events, with the Kafka timestamp of its record."""

    timestamp_ms: int
    event: GameEvent | OddsEvent | BetEvent


class LogReader:
    """A consumer with no group (it commits nothing and joins no one) that reads topics up to
    the end offsets they have when a read begins."""

    def __init__(self, bootstrap_servers: str, producer_name: str) -> None:
        self._name = producer_name.encode()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="inplay-producer-reader",
            group_id=None,
            enable_auto_commit=False,
            # Not "latest": aiokafka lets a fresh assignment's default reset, still in
            # flight, overwrite a seek_to_beginning made meanwhile (and then reads nothing).
            auto_offset_reset="earliest",
        )

    async def start(self) -> None:
        """Connect."""
        await self._consumer.start()

    async def stop(self) -> None:
        """Close the connection."""
        await self._consumer.stop()

    async def read(
        self,
        parts: Sequence[TopicPartition],
        keys: Collection[bytes] | None = None,
        since_ms: int | None = None,
    ) -> list[OwnRecord]:
        """This producer's valid events in ``parts`` (of the games keyed ``keys`` if given),
        from the log start, or from the first record stamped at ``since_ms`` or later."""
        if not parts:
            return []
        consumer = self._consumer
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        if since_ms is None:
            await consumer.seek_to_beginning(*parts)
        else:
            found = await consumer.offsets_for_times(dict.fromkeys(parts, since_ms))
            for tp in parts:
                at = found.get(tp)
                consumer.seek(tp, at.offset if at is not None else ends[tp])
        left = {tp for tp in parts if await consumer.position(tp) < ends[tp]}
        out: list[OwnRecord] = []
        while left:
            batches = await consumer.getmany(*left, timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        break  # sent after the read began: not a previous run's
                    if keys is not None and r.key not in keys:
                        continue
                    if (PRODUCER_HEADER, self._name) not in r.headers:
                        continue
                    try:
                        event = decode(r.value or b"")
                    except InvalidEvent:
                        continue  # consumers dead-letter it; it tells nothing about a game
                    if isinstance(event, GameEvent | OddsEvent | BetEvent):
                        out.append(OwnRecord(r.timestamp, event))
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
                    consumer.pause(tp)
        return out
