"""Retention, run by the sink itself (the Apache edition has no job scheduler).

Raw hypertables lose whole chunks older than the raw retention (drop_chunks, cheap); the
rollup tables are plain tables, trimmed by bucket after the (longer) rollup retention. Either
way only what lies wholly before the cut-off goes: a chunk or a bucket that reaches past it is
kept until a later run. The state tables (games, markets) and the offsets are never touched.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import scalar_row

RAW_TABLES = ("odds_ticks", "game_events", "bets")
ROLLUP_TABLES = ("candles", "bet_volume")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows older than these instants go."""

    raw: datetime
    rollups: datetime


def cutoffs(now: datetime, raw_retention: timedelta, rollup_retention: timedelta) -> Cutoffs:
    """The cut-off instants for ``now``."""
    return Cutoffs(now - raw_retention, now - rollup_retention)


async def apply(dsn: str, cut: Cutoffs) -> dict[str, int]:
    """Drop raw chunks and delete rollup rows older than the cut-offs.

    What went, per table: chunks dropped for a raw table, rows deleted for a rollup table.
    """
    removed: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, connect_timeout=10, row_factory=scalar_row
    ) as conn:
        for table in RAW_TABLES:
            cur = await conn.execute(
                "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s)",
                (table, cut.raw),
            )
            removed[table] = await cur.fetchone() or 0
        for table in ROLLUP_TABLES:
            # The bucket's end, not its start: a 5-minute candle that began before the cut-off
            # also holds newer ticks (and its 1-minute candles after the cut-off are kept).
            cur = await conn.execute(
                f"DELETE FROM {table} WHERE bucket + width <= %s",
                (cut.rollups,),
            )
            removed[table] = cur.rowcount
    return removed


async def run_forever(
    dsn: str,
    raw_retention: timedelta,
    rollup_retention: timedelta,
    every_s: float,
    log: logging.Logger,
) -> None:
    """Apply retention now and then every ``every_s``; a failure is logged and retried later."""
    while True:
        cut = cutoffs(datetime.now().astimezone(), raw_retention, rollup_retention)
        try:
            removed = await apply(dsn, cut)
            log.info(
                "retention applied",
                extra={
                    "raw_before": cut.raw.isoformat(),
                    "rollups_before": cut.rollups.isoformat(),
                    "removed": removed,
                },
            )
        except psycopg.Error as exc:
            log.warning("retention failed, will retry", extra={"error": str(exc).strip()})
        await asyncio.sleep(every_s)
