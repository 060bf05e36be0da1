"""The one rule for a consumer position outside its partition's log, for every consumer.

A position lies outside the log when one side was wiped and not the other (Kafka's data
without the sink's offsets in PostgreSQL, say), or when retention removed records a slow
consumer had not read yet. Kafka answers a fetch there with OFFSET_OUT_OF_RANGE. The rule:
warn, naming the partition, and read the partition again from its log start. Past the end,
everything the log holds is new to the consumer, so nothing is skipped (a consumer that
dedupes, as all here do, drops what it has seen); before the start, the start is the oldest
record left. Consumers run with ``auto_offset_reset="none"`` so the broker's answer reaches
this rule instead of a silent reset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

WARNING = "position outside the log: reading the partition again from its start"


async def rewind_to_log_start(
    consumer: AIOKafkaConsumer, outside: Mapping[TopicPartition, int], log: logging.Logger
) -> dict[TopicPartition, int]:
    """Apply the rule to the partitions of ``outside`` (partition -> its position) that the
    consumer still holds; return each one's log start, where it now reads from."""
    held = [tp for tp in outside if tp in consumer.assignment()]
    if not held:
        return {}
    starts = await consumer.beginning_offsets(held)
    for tp in held:
        log.warning(
            WARNING,
            extra={
                "partition": f"{tp.topic}-{tp.partition}",
                "position": outside[tp],
                "log_start": starts[tp],
            },
        )
        consumer.seek(tp, starts[tp])
    return starts
