"""What ingest's ops port reports: its counts and lag as metrics, Kafka, Redis and lag as
its readiness."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import TopicPartition

from broadcaster.ingest.consumer import Ingest
from inplay_events.ops_port import Check, Metric, Values, lag_problem

METRICS = (
    Metric("events_applied", "Events applied to Redis (live)."),
    Metric("events_duplicate", "Events Redis had already applied (dedupe)."),
    Metric("events_stale", "Events older than what Redis holds for their game."),
    Metric("events_invalid", "Records that failed validation; each is dead-lettered."),
    Metric("alive", "Producer alive events read."),
    Metric("rebuild_applied", "Events applied quietly while rebuilding lost Redis state."),
    Metric("redis_lost", "Times Redis was found to have lost what ingest applied."),
    Metric("offset_outside_log", "Partitions re-read from the log start (offset outside it)."),
    Metric(
        "lag_records", "Records behind the high watermarks, summed (NaN: not known).", kind="gauge"
    ),
    Metric("partitions_assigned", "Partitions this worker owns.", kind="gauge"),
)
COUNTS = {
    "events_applied": "applied",
    "events_duplicate": "duplicate",
    "events_stale": "stale",
    "events_invalid": "invalid",
    "alive": "alive",
    "rebuild_applied": "rebuild_applied",
    "redis_lost": "redis_lost",
    "offset_outside_log": "offset_outside_log",
}


def records_behind(
    highwaters: Mapping[TopicPartition, int | None], done: Mapping[TopicPartition, int]
) -> int | None:
    """Records between each partition's applied offset and its high watermark, summed; None
    while some partition has had no fetch answered (its high watermark is not known yet)."""
    behind = 0
    for tp, highwater in highwaters.items():
        if highwater is None:
            return None
        # Not applied anything yet, with a fetch answered: nothing was there to apply.
        behind += max(0, highwater - done.get(tp, highwater))
    return behind


class IngestView:
    """Reads an ``Ingest`` worker's own numbers; adds nothing to its loop."""

    def __init__(self, ingest: Ingest, max_lag: int) -> None:
        self._ingest = ingest
        self._max_lag = max_lag

    def lag(self) -> int | None:
        """Records behind the high watermarks the last fetches carried, summed (None: not
        known yet)."""
        consumer, parts = self._ingest.consumer, self._ingest.partitions
        return records_behind({tp: consumer.highwater(tp) for tp in parts.positioned}, parts.done)

    def values(self) -> Values:
        """The current value of every metric in METRICS."""
        counts = self._ingest.counts
        out: dict[str, float] = {name: counts[key] for name, key in COUNTS.items()}
        lag = self.lag()
        out["lag_records"] = float("nan") if lag is None else lag
        out["partitions_assigned"] = len(self._ingest.consumer.assignment())
        return out

    def checks(self) -> dict[str, Check]:
        """Kafka (answers, partitions assigned and positioned), Redis (PING), lag."""
        return {"kafka": self._kafka, "redis": self._redis, "lag": self._lag}

    async def _kafka(self) -> str | None:
        await self._ingest.consumer.topics()  # a metadata round trip: the broker answers
        parts = self._ingest.partitions
        if not self._ingest.consumer.assignment():
            return "no partitions assigned"
        if parts.held:
            return f"{len(parts.held)} partitions not positioned yet"
        if parts.rebuilding:
            return f"{len(parts.rebuilding)} partitions rebuilding lost Redis state"
        return None

    async def _redis(self) -> str | None:
        await self._ingest.redis.ping()
        return None

    async def _lag(self) -> str | None:
        return lag_problem(self.lag(), self._max_lag)
