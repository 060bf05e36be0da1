"""Reading whole topics back in tests: every record from the log start to the end as of now."""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from stack import broker


async def read_topics(
    bootstrap: str, topics: Iterable[str], timeout: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record the topics hold now, in offset order per partition."""
    parts = await broker.partitions(bootstrap, topics)
    # "earliest" as well: a seek_to_beginning racing the default "latest" reset of a fresh
    # assignment can lose to it in aiokafka, and read nothing.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        out: list[ConsumerRecord[bytes, bytes]] = []
        left = {tp for tp in parts if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while left:
            assert time.monotonic() < deadline, f"records of {left} not read in {timeout:.0f} s"
            for tp, records in (await consumer.getmany(*left, timeout_ms=500)).items():
                out += [r for r in records if r.offset < ends[tp]]
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        return out
    finally:
        await consumer.stop()
