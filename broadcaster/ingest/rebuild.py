"""Where a partition starts, and whether Redis must first be rebuilt from its log (pure).

Kafka keeps the topics and the group's committed offsets across restarts; Redis can come back
empty (no persistence, a failover, FLUSHALL) or older (an old copy). Going on from the
committed offsets would then leave every snapshot without the games that do not change
again. So each partition has a mark in Redis (``keys.applied``): how far Redis holds its
effects, raised by every apply call. A committed offset above the mark means Redis lacks
records the group has read: they are read again from the mark (or the log start) and applied
*quietly* (state, dedupe and numbering, no history, no PUBLISH), then the partition goes on
live from the committed offset.

Rebuilding partition by partition is exact because everything ingest keeps in Redis is
written by the records of one partition, in that partition's order: a game's ``games``,
``league:`` and ``game:`` entries by the games topic's partition of its id, its markets by the
odds topic's, its dedupe and staleness keys per (game, event type), so per topic. Only two
things mix partitions: a channel's seq (a counter; the rebuild takes a new epoch where the
numbering is gone, and every quiet change still takes a seq, so a reader of a mid-rebuild
snapshot sees a gap at the next publication and resyncs), and a ``user:`` list's bets of
several games (interleaved in read order, as live ingest interleaves them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(frozen=True, slots=True)
class Facts:
    """What decides a partition's start."""

    # The group's committed offset (or further: what this worker applied); None: never.
    committed: int | None
    log_start: int
    log_end: int
    # How far Redis holds the partition's effects; None: no mark (Redis lost it or never had it).
    mark: int | None


@dataclass(frozen=True, slots=True)
class Start:
    """Where a partition starts reading, and what Redis's mark is before it does."""

    offset: int
    # Records before this offset are applied quietly (a rebuild); None: all live.
    rebuild_until: int | None
    # The mark Redis holds once ``write_mark`` (if any) is written.
    mark: int
    write_mark: bool


def plan(f: Facts) -> Start:
    """The start of one partition after an assignment, or after Redis lost what it held."""
    if f.committed is None:
        # The group never read it: the whole log is new, and any mark is of an older life.
        return Start(f.log_start, None, f.log_start, write_mark=True)
    if f.mark is not None and f.mark >= f.committed:
        return Start(f.committed, None, f.mark, write_mark=False)
    begin = f.log_start if f.mark is None else max(f.mark, f.log_start)
    if begin < f.committed <= f.log_end:
        if f.mark is None:
            return Start(begin, f.committed, begin, write_mark=True)
        return Start(begin, f.committed, f.mark, write_mark=False)
    # Nothing retained lies below the committed offset (or it is outside the log, which the
    # one rule of inplay_events.log_position then handles): on from it.
    if f.mark is None:
        return Start(f.committed, None, f.log_start, write_mark=True)
    return Start(f.committed, None, f.mark, write_mark=False)


def finished(position: int, until: int, highwater: int | None) -> bool:
    """Whether a rebuild reading at ``position`` is done: it reached ``until``, or the log
    ends before it (truncated since), so nothing more can come."""
    if position >= until:
        return True
    return highwater is not None and highwater < until and position >= highwater


def lost(held: Sequence[bytes | str | None], expected: Sequence[int]) -> bool:
    """Whether Redis's marks (as read) are missing or below what ingest knows it applied."""
    return any(h is None or int(h) < e for h, e in zip(held, expected, strict=True))


def label(tp: TopicPartition) -> str:
    """A partition as logs name it."""
    return f"{tp.topic}-{tp.partition}"


@dataclass
class Progress:
    """One rebuild: when it began (Redis time, ms: numbering older than that is renewed),
    its partitions and records, for its log lines."""

    since_ms: int = 0
    started: float = field(default_factory=time.monotonic)
    # Partition -> the offset it is rebuilt up to.
    left: dict[TopicPartition, int] = field(default_factory=dict)
    done: list[TopicPartition] = field(default_factory=list)
    dropped: list[TopicPartition] = field(default_factory=list)
    # Records to read when it started (an estimate: offsets, not records), records read.
    total: int = 0
    read: int = 0

    def add(self, tp: TopicPartition, begin: int, until: int) -> None:
        """A partition to rebuild from ``begin`` up to ``until``."""
        self.left[tp] = until
        self.total += until - begin

    def finish(self, tp: TopicPartition) -> None:
        """The partition reached its end and reads live now."""
        if self.left.pop(tp, None) is not None:
            self.done.append(tp)

    def drop(self, tps: set[TopicPartition]) -> None:
        """Partitions that left before the end (moved to another worker, or Redis lost)."""
        for tp in tps & set(self.left):
            del self.left[tp]
            self.dropped.append(tp)

    def fields(self) -> dict[str, object]:
        """The figures a log line carries."""
        return {
            "partitions": sorted(label(tp) for tp in (*self.left, *self.done)),
            "partitions_left": len(self.left),
            "interrupted": sorted(label(tp) for tp in self.dropped),
            "records": self.read,
            "records_expected": self.total,
            "seconds": round(time.monotonic() - self.started, 2),
        }
