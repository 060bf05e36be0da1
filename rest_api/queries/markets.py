"""Markets: price candles, bet volume and exposure, read from the sink's rollup tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rest_api.db import Database

# One round trip: the LEFT JOIN yields one all-NULL row for a known market with no buckets
# in range, and no row at all for an unknown market. Ordered as the primary key (market_id,
# width, bucket, selection_id) is, so Postgres reads the index in order and never sorts.
# (Building the JSON in Postgres instead was measured slower: json_agg costs more server CPU
# than binary rows plus orjson cost the API.)
_CANDLES = (
    "SELECT c.selection_id, c.bucket, c.open, c.high, c.low, c.close, c.ticks "
    "FROM markets m LEFT JOIN candles c ON c.market_id = m.market_id AND c.width = %s "
    "AND c.bucket >= %s AND c.bucket < %s "
    "WHERE m.market_id = %s ORDER BY c.bucket, c.selection_id"
)
_VOLUME = (
    "SELECT v.selection_id, v.bucket, v.bets, v.stake, v.payout "
    "FROM markets m LEFT JOIN bet_volume v ON v.market_id = m.market_id AND v.width = %s "
    "AND v.bucket >= %s AND v.bucket < %s "
    "WHERE m.market_id = %s ORDER BY v.bucket, v.selection_id"
)
# Exposure reads the 5-minute volume rollup: all-time totals, far fewer rows than raw bets.
_EXPOSURE = (
    "SELECT m.prices, v.selection_id, sum(v.bets)::bigint, sum(v.stake)::bigint, sum(v.payout) "
    "FROM markets m LEFT JOIN bet_volume v ON v.market_id = m.market_id "
    "AND v.width = interval '5 minutes' "
    "WHERE m.market_id = %s GROUP BY m.prices, v.selection_id ORDER BY v.selection_id"
)


async def candles(
    db: Database, market_id: str, width: timedelta, start: datetime, end: datetime
) -> dict[str, list[dict[str, Any]]] | None:
    """OHLC + ticks per selection per bucket in [start, end), or None for an unknown market."""
    # Binary rows: psycopg's C loaders parse floats and timestamps far faster than text.
    rows = await db.fetch_all(_CANDLES, [width, start, end, market_id], binary=True)
    if not rows:
        return None
    series: dict[str, list[dict[str, Any]]] = {}
    for selection, bucket, open_, high, low, close, ticks in rows:
        if selection is not None:
            candle = {"t": bucket, "open": open_, "high": high, "low": low, "close": close}
            candle["ticks"] = ticks
            series.setdefault(selection, []).append(candle)
    return series


async def volume(
    db: Database, market_id: str, width: timedelta, start: datetime, end: datetime
) -> dict[str, list[dict[str, Any]]] | None:
    """Bets, stake and payout per selection per bucket, or None for an unknown market."""
    rows = await db.fetch_all(_VOLUME, [width, start, end, market_id], binary=True)
    if not rows:
        return None
    series: dict[str, list[dict[str, Any]]] = {}
    for selection, bucket, bets, stake, payout in rows:
        if selection is not None:
            series.setdefault(selection, []).append(
                {"t": bucket, "bets": bets, "stake": stake, "payout": payout}
            )
    return series


def compute_exposure(
    selections: list[str], totals: dict[str, tuple[int, int, float]]
) -> dict[str, Any]:
    """Per selection: bets, stakes, payout if it wins, and net = payout - all stakes taken.

    ``totals`` maps a selection to (bets, stake, payout); selections without bets count 0.
    A positive net is what the book loses if that selection wins.
    """
    total_stake = sum(stake for _, stake, _ in totals.values())
    rows = []
    for selection in sorted(set(selections) | set(totals)):
        bets, stake, payout = totals.get(selection, (0, 0, 0.0))
        rows.append(
            {
                "selection_id": selection,
                "bets": bets,
                "stake": stake,
                "payout": payout,
                "net": payout - total_stake,
            }
        )
    worst = max((r["net"] for r in rows), default=0.0)
    return {"total_stake": total_stake, "worst_case_net": worst, "selections": rows}


async def exposure(db: Database, market_id: str) -> dict[str, Any] | None:
    """The market's exposure (see ``compute_exposure``), or None for an unknown market."""
    rows = await db.fetch_all(_EXPOSURE, [market_id])
    if not rows:
        return None
    prices = rows[0][0] or {}
    totals = {r[1]: (r[2], r[3], r[4]) for r in rows if r[1] is not None}
    return compute_exposure(list(prices), totals)
