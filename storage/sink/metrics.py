"""The sink's counters and the periodic throughput log line built from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from inplay_events.ops_port import Metric
from storage.sink.rows import BatchRows
from storage.sink.writer import WriteResult


@dataclass(slots=True)
class Counters:
    """Totals since start-up."""

    records: int = 0
    events: int = 0
    ticks_new: int = 0
    game_events_new: int = 0
    bets_new: int = 0
    candles_upserted: int = 0
    volumes_upserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    alive_skipped: int = 0
    batches: int = 0
    stale_batches: int = 0
    offset_resets: int = 0
    db_retries: int = 0

    def add(self, batch: BatchRows, result: WriteResult) -> None:
        """Count one committed batch."""
        self.records += batch.records
        self.events += batch.events
        self.ticks_new += result.ticks
        self.game_events_new += result.game_events
        self.bets_new += result.bets
        self.candles_upserted += result.candles
        self.volumes_upserted += result.volumes
        self.duplicates += batch.duplicates
        self.dead_letters += len(batch.dead)
        self.alive_skipped += batch.alive
        self.batches += 1


@dataclass(slots=True)
class Throughput:
    """Rates between two reports."""

    started: float
    counters: Counters
    _last_time: float = 0.0
    _last_records: int = 0
    _last_events: int = 0
    _extra: dict[str, int] = field(default_factory=dict)

    def report(self, now: float, **gauges: int) -> dict[str, object]:
        """Counters, rates since the previous report, and the given gauges (e.g. lag)."""
        last = self._last_time or self.started
        span = max(now - last, 1e-9)
        c = self.counters
        out: dict[str, object] = {
            "records_per_s": round((c.records - self._last_records) / span, 1),
            "events_per_s": round((c.events - self._last_events) / span, 1),
            **asdict(c),
            **gauges,
        }
        self._last_time, self._last_records, self._last_events = now, c.records, c.events
        return out


# The sink's ops-port metrics: every counter above, then the gauges read beside them.
OPS_METRICS = (
    Metric("records", "Kafka records in committed batches."),
    Metric("events", "Valid events in committed batches."),
    Metric("ticks_new", "Odds ticks stored (not already there)."),
    Metric("game_events_new", "Game events stored."),
    Metric("bets_new", "Bets stored."),
    Metric("candles_upserted", "Candle rows inserted or changed."),
    Metric("volumes_upserted", "Bet volume rows inserted or changed."),
    Metric("duplicates", "Events seen twice within a batch."),
    Metric("dead_letters", "Records sent to the dead-letter topic."),
    Metric("alive_skipped", "Producer alive events read (not stored)."),
    Metric("batches", "Batches committed."),
    Metric("stale_batches", "Batches rolled back: another consumer had committed past them."),
    Metric("offset_resets", "Stored offsets outside the log, reset to its start."),
    Metric("db_retries", "Database operations retried."),
    Metric("lag_records", "Records behind the high watermarks, summed.", kind="gauge"),
)


def ops_values(counters: Counters, lag: int, db_retries: int) -> dict[str, float]:
    """The value of every metric in OPS_METRICS."""
    return {**asdict(counters), "db_retries": db_retries, "lag_records": lag}
