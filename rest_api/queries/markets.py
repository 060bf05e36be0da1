"""Markets: price candles, bet volume and exposure, read from the sink's rollup tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from rest_api.bodies import Candle, Exposure, ExposureSelection, VolumeBucket
from rest_api.db import Database, columns


# The series rows are all NULL in the one row a known market without buckets in range yields
# (see the queries below); that row is skipped on its NULL selection_id.
class CandleRow(NamedTuple):
    """A ``candles`` row: one selection's price in one bucket."""

    selection_id: str | None
    bucket: datetime
    open: float
    high: float
    low: float
    close: float
    ticks: int


class VolumeRow(NamedTuple):
    """A ``bet_volume`` row: one selection's bets in one bucket."""

    selection_id: str | None
    bucket: datetime
    bets: int
    stake: int
    payout: float


class ExposureRow(NamedTuple):
    """One selection's all-time totals, with the market's current prices."""

    prices: dict[str, float]
    selection_id: str | None
    bets: int
    stake: int
    payout: float


class Totals(NamedTuple):
    """Bets, stakes (minor units) and payout if it wins, of one selection."""

    bets: int
    stake: int
    payout: float


# One round trip: the LEFT JOIN yields one all-NULL row for a known market with no buckets
# in range, and no row at all for an unknown market. Ordered as the primary key (market_id,
# width, bucket, selection_id) is, so Postgres reads the index in order and never sorts.
# (Building the JSON in Postgres instead was measured slower: json_agg costs more server CPU
# than binary rows plus orjson cost the API.)
_CANDLES = (
    f"SELECT {columns(CandleRow, 'c')} "
    "FROM markets m LEFT JOIN candles c ON c.market_id = m.market_id AND c.width = %s "
    "AND c.bucket >= %s AND c.bucket < %s "
    "WHERE m.market_id = %s ORDER BY c.bucket, c.selection_id"
)
_VOLUME = (
    f"SELECT {columns(VolumeRow, 'v')} "
    "FROM markets m LEFT JOIN bet_volume v ON v.market_id = m.market_id AND v.width = %s "
    "AND v.bucket >= %s AND v.bucket < %s "
    "WHERE m.market_id = %s ORDER BY v.bucket, v.selection_id"
)
# Exposure reads the 5-minute volume rollup: all-time totals, far fewer rows than raw bets.
_EXPOSURE = (
    "SELECT m.prices, v.selection_id, sum(v.bets)::bigint AS bets, "
    "sum(v.stake)::bigint AS stake, sum(v.payout) AS payout "
    "FROM markets m LEFT JOIN bet_volume v ON v.market_id = m.market_id "
    "AND v.width = interval '5 minutes' "
    "WHERE m.market_id = %s GROUP BY m.prices, v.selection_id ORDER BY v.selection_id"
)


async def candles(
    db: Database, market_id: str, width: timedelta, start: datetime, end: datetime
) -> dict[str, list[Candle]] | None:
    """OHLC + ticks per selection per bucket in [start, end), or None for an unknown market."""
    # Binary rows: psycopg's C loaders parse floats and timestamps far faster than text.
    rows = await db.fetch_all(CandleRow, _CANDLES, [width, start, end, market_id], binary=True)
    if not rows:
        return None
    series: dict[str, list[Candle]] = {}
    for r in rows:
        if r.selection_id is not None:
            series.setdefault(r.selection_id, []).append(
                {
                    "t": r.bucket,
                    "open": r.open,
                    "high": r.high,
                    "low": r.low,
                    "close": r.close,
                    "ticks": r.ticks,
                }
            )
    return series


async def volume(
    db: Database, market_id: str, width: timedelta, start: datetime, end: datetime
) -> dict[str, list[VolumeBucket]] | None:
    """Bets, stake and payout per selection per bucket, or None for an unknown market."""
    rows = await db.fetch_all(VolumeRow, _VOLUME, [width, start, end, market_id], binary=True)
    if not rows:
        return None
    series: dict[str, list[VolumeBucket]] = {}
    for r in rows:
        if r.selection_id is not None:
            series.setdefault(r.selection_id, []).append(
                {"t": r.bucket, "bets": r.bets, "stake": r.stake, "payout": r.payout}
            )
    return series


def compute_exposure(
    market_id: str, selections: Iterable[str], totals: Mapping[str, Totals]
) -> Exposure:
    """Per selection: bets, stakes, payout if it wins, and net = payout - all stakes taken.

    Selections without bets count 0. A positive net is what the book loses if that one wins.
    """
    total_stake = sum(t.stake for t in totals.values())
    rows: list[ExposureSelection] = []
    for selection in sorted(set(selections) | set(totals)):
        t = totals.get(selection, Totals(0, 0, 0.0))
        rows.append(
            {
                "selection_id": selection,
                "bets": t.bets,
                "stake": t.stake,
                "payout": t.payout,
                "net": t.payout - total_stake,
            }
        )
    worst = max((r["net"] for r in rows), default=0.0)
    return {
        "market_id": market_id,
        "total_stake": total_stake,
        "worst_case_net": worst,
        "selections": rows,
    }


async def exposure(db: Database, market_id: str) -> Exposure | None:
    """The market's exposure (see ``compute_exposure``), or None for an unknown market."""
    rows = await db.fetch_all(ExposureRow, _EXPOSURE, [market_id])
    if not rows:
        return None
    totals = {
        r.selection_id: Totals(r.bets, r.stake, r.payout)
        for r in rows
        if r.selection_id is not None
    }
    return compute_exposure(market_id, rows[0].prices or {}, totals)
