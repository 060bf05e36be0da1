"""Keeps the local broker fast for long `make up` sessions by recreating its topics empty.

Tansu keeps every record in memory, lists every stored batch of a partition on each fetch
that finds data, and cannot delete records (DESIGN.md, local stack): the feed's lag grows
with every record ever produced. Once the topics hold ``rotate_records`` records, the stack
pauses the producer (SIGSTOP: what it has not sent yet waits in its memory), waits until
ingest and the sink have committed everything the broker holds and their positions stay
put, deletes and recreates the topics, waits until both have found their positions past
the new, empty logs' ends and moved them back to 0 (the rule every consumer here follows,
DESIGN.md), and resumes the producer. Nothing is lost or read twice; the feed pauses for a
second or two. If the consumers do not catch up in time, the topics are left alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from inplay_events import TOPICS

INGEST_GROUP = "fanout"
SINK_GROUP = "timescale-sink"
CHECK_EVERY_S = 5.0
# Positions must stay put this long, the producer paused, before the topics go.
STABLE_S = 0.6
CATCH_UP_TIMEOUT_S = 15.0

Positions = dict[TopicPartition, int]


def caught_up(ends: Positions, *groups: Positions) -> bool:
    """Every group has committed exactly the log end of every partition that has records.

    A committed offset above the end is one of the previous logs' (its consumer has not
    noticed the recreation yet, so may not have read the new records): not caught up.
    An empty partition holds nothing to lose, whatever is committed.
    """
    return all(end == 0 or group.get(tp) == end for group in groups for tp, end in ends.items())


def lagging(ends: Positions, groups: dict[str, Positions]) -> str:
    """The first few partitions where a group is not at the log end, for the status line."""
    found = [
        f"{name} {tp.topic}-{tp.partition} at {group.get(tp)} of {end}"
        for name, group in groups.items()
        for tp, end in ends.items()
        if end and group.get(tp) != end
    ]
    return ", ".join(found[:3]) or "positions still moving"


def at_most(ends: Positions, group: Positions) -> bool:
    """No position of the group lies beyond the log end (missing: never committed)."""
    return all(group.get(tp, 0) <= end for tp, end in ends.items())


class Rotator:
    """Watches the topics' size and recreates them when due (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        dsn: str,
        partitions: int,
        rotate_records: int,
        producer_pid: Callable[[], int | None],
        say: Callable[[str], None],
    ) -> None:
        self.bootstrap = bootstrap
        self.dsn = dsn
        self.partitions = partitions
        self.rotate_records = rotate_records
        self.producer_pid = producer_pid
        self.say = say

    async def run(self) -> None:
        """Check every few seconds, forever (cancel to stop; a paused producer is resumed)."""
        ends_reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        ingest = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=INGEST_GROUP, enable_auto_commit=False
        )
        await ends_reader.start()
        await ingest.start()
        try:
            tps = [TopicPartition(t, p) for t in TOPICS for p in range(self.partitions)]
            while True:
                await asyncio.sleep(CHECK_EVERY_S)
                ends = await ends_reader.end_offsets(tps)
                if sum(ends.values()) >= self.rotate_records:
                    await self.rotate(tps, ingest)
        finally:
            await ingest.stop()
            await ends_reader.stop()

    async def rotate(self, tps: list[TopicPartition], ingest: AIOKafkaConsumer) -> bool:
        """One rotation; False when the consumers did not catch up (topics kept)."""
        pid = self.producer_pid()
        if pid is None:
            return False
        started = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            behind = await self._wait_caught_up(tps, ingest)
            if behind:
                self.say(f"broker: consumers behind ({behind}), topics kept this round")
                return False
            await self._recreate_topics()
            if not await self._wait_restarted(tps, ingest):
                self.say("broker: a consumer has not restarted on the new topics yet")
        finally:
            os.kill(pid, signal.SIGCONT)
        self.say(
            f"broker: topics recreated empty to keep it fast (feed paused "
            f"{time.monotonic() - started:.1f} s; see README)"
        )
        return True

    async def _wait_caught_up(self, tps: list[TopicPartition], ingest: AIOKafkaConsumer) -> str:
        """Empty when both groups hold every log end, steadily; else who is behind, where."""
        await asyncio.sleep(STABLE_S)  # produce requests already on the wire land first
        ends = await self._log_ends(tps)
        if ends is None:
            return "no log end from the broker"
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        last: tuple[Positions, Positions] | None = None
        stable_since = time.monotonic()
        while True:
            now_pos = (await _committed(ingest, tps), await asyncio.to_thread(self._sink_positions))
            if now_pos != last:
                last, stable_since = now_pos, time.monotonic()
            elif caught_up(ends, *now_pos) and time.monotonic() - stable_since >= STABLE_S:
                return ""
            if time.monotonic() > deadline:
                return lagging(ends, {INGEST_GROUP: now_pos[0], SINK_GROUP: now_pos[1]})
            await asyncio.sleep(0.1)

    async def _wait_restarted(self, tps: list[TopicPartition], ingest: AIOKafkaConsumer) -> bool:
        """Until ingest and the sink have moved every position back to the empty logs' 0.

        Only then may the producer go on: a consumer still holding its position in the old
        log would take a new log that grew up to it for one it had read, and skip it.
        """
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        empty = dict.fromkeys(tps, 0)
        while time.monotonic() < deadline:
            ingest_at = await _committed(ingest, tps)
            sink_at = await asyncio.to_thread(self._sink_positions)
            if at_most(empty, ingest_at) and at_most(empty, sink_at):
                return True
            await asyncio.sleep(0.2)
        return False

    async def _log_ends(self, tps: list[TopicPartition]) -> Positions | None:
        """Each partition's true log end: the high watermark a fetch response carries.

        ListOffsets on this broker answers the start of the last batch + 1 (DESIGN.md); a
        fetch from there returns that batch and the real end. None if a partition did not
        answer in time.
        """
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await reader.start()
        try:
            reader.assign(tps)
            starts = await reader.end_offsets(tps)
            for tp, offset in starts.items():
                reader.seek(tp, offset)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                ends = {tp: reader.highwater(tp) for tp in tps}
                if all(end is not None for end in ends.values()):
                    return {tp: end for tp, end in ends.items() if end is not None}
                await reader.getmany(timeout_ms=200)
            return None
        finally:
            await reader.stop()

    def _sink_positions(self) -> Positions:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT topic, partition, next_offset FROM consumer_offsets"
                " WHERE consumer_group = %s",
                (SINK_GROUP,),
            ).fetchall()
        return {TopicPartition(t, p): o for t, p, o in rows}

    async def _recreate_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(list(TOPICS))
            for _ in range(100):
                if not set(TOPICS) & set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.05)
            await admin.create_topics(
                [NewTopic(t, num_partitions=self.partitions, replication_factor=1) for t in TOPICS]
            )
            for _ in range(100):
                if set(TOPICS) <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.05)
        finally:
            await admin.close()


async def _committed(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> Positions:
    out: Positions = {}
    for tp in tps:
        offset = await consumer.committed(tp)
        out[tp] = -1 if offset is None else offset
    return out
