"""The one shape of a dead-letter record, whichever consumer rejected the event."""

from __future__ import annotations

import orjson

from inplay_events.errors import InvalidEvent


def dead_letter(
    consumer: str, error: InvalidEvent, topic: str, partition: int, offset: int, value: bytes | None
) -> bytes:
    """The dead-letter value: who rejected what (topic, partition, offset, bytes) and why."""
    return orjson.dumps(
        {
            "consumer": consumer,
            "reason": str(error),
            "error": error.as_dict(),
            "topic": topic,
            "partition": partition,
            "offset": offset,
            # Kept readable even when the producer sent bytes that are not UTF-8.
            "value": None if value is None else value.decode("utf-8", "backslashreplace"),
        }
    )
