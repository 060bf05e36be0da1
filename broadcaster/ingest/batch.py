"""A fetched batch cut into script calls, each knowing how far it takes every partition (pure).

A call's partitions and offsets become its marks (see redis_scripts.py) and, once it has
applied, the offsets that may be committed: a batch applied only in part (Redis refused a
later call) commits and marks exactly what Redis has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition

from inplay_events import Event


@dataclass(frozen=True, slots=True)
class Read:
    """One record, decoded: the event to apply, or None (an alive beacon, an invalid record)."""

    tp: TopicPartition
    next_offset: int
    event: Event | None


@dataclass(slots=True)
class Chunk:
    """The events of one script call and, per partition it covers, the next offset after it."""

    events: list[Event] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


def chunks(reads: list[Read], size: int) -> list[Chunk]:
    """Cut ``reads`` (in order) into chunks of at most ``size`` events.

    Records with nothing to apply join the chunk at hand, so a batch of alive beacons alone
    still makes one (empty) call that moves the partitions' marks on.
    """
    out: list[Chunk] = []
    chunk = Chunk()
    for read in reads:
        if read.event is not None:
            if len(chunk.events) >= size:
                out.append(chunk)
                chunk = Chunk()
            chunk.events.append(read.event)
        chunk.offsets[read.tp] = read.next_offset
    if chunk.offsets:
        out.append(chunk)
    return out
