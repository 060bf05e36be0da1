"""Games: the paged list, one game with its markets, and a game's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from rest_api.bodies import Game, GameDetail, Market, TimelineEvent
from rest_api.cursor import Position
from rest_api.db import Database, columns, fetch


class GameRow(NamedTuple):
    """A ``games`` row, as the API reads it."""

    game_id: str
    league: str
    sport: str
    home: str
    away: str
    start_time: datetime
    status: str
    score_home: int
    score_away: int
    period: int | None
    clock: int | None
    results: dict[str, str | None] | None
    updated_at: datetime


class MarketRow(NamedTuple):
    """A ``markets`` row: latest state and prices."""

    market_id: str
    kind: str
    line: float | None
    status: str
    prices: dict[str, float]
    last_seq: int
    updated_at: datetime


class EventRow(NamedTuple):
    """A ``game_events`` row; all NULL for a game without events (the LEFT JOIN's one row)."""

    event_id: str | None
    ts: datetime
    seq: int
    kind: str
    status: str
    score_home: int
    score_away: int
    period: int | None
    clock: int | None


GAME_COLUMNS = columns(GameRow)
_GAME = f"SELECT {GAME_COLUMNS} FROM games WHERE game_id = %s"
_MARKETS = f"SELECT {columns(MarketRow)} FROM markets WHERE game_id = %s ORDER BY market_id"
_TIMELINE = (
    f"SELECT {columns(EventRow, 'e')} FROM games g "
    "LEFT JOIN game_events e ON e.game_id = g.game_id "
    "WHERE g.game_id = %s ORDER BY e.seq, e.ts"
)


def game_json(row: GameRow) -> Game:
    """A ``games`` row as the API's game object."""
    return {
        "game_id": row.game_id,
        "league": row.league,
        "sport": row.sport,
        "home": row.home,
        "away": row.away,
        "start_time": row.start_time,
        "status": row.status,
        "score": {"home": row.score_home, "away": row.score_away},
        "period": row.period,
        "clock": row.clock,
        "results": row.results,
        "updated_at": row.updated_at,
    }


def _market_json(row: MarketRow) -> Market:
    return {
        "market_id": row.market_id,
        "kind": row.kind,
        "line": row.line,
        "status": row.status,
        "prices": row.prices,
        "seq": row.last_seq,
        "updated_at": row.updated_at,
    }


async def list_games(
    db: Database,
    *,
    status: str | None,
    league: str | None,
    sport: str | None,
    after: Position | None,
    limit: int,
) -> list[GameRow]:
    """Up to ``limit`` games in (start_time, game_id) order, after the cursor position."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("status", status), ("league", league), ("sport", sport)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if after is not None:
        # Row comparison keeps the order total (game_id breaks start_time ties): stable pages.
        where.append("(start_time, game_id) > (%s, %s)")
        args += [after.start_time, after.game_id]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {GAME_COLUMNS} FROM games {clause} ORDER BY start_time, game_id LIMIT %s"
    return await db.fetch_all(GameRow, sql, [*args, limit])


async def game_with_markets(db: Database, game_id: str) -> GameDetail | None:
    """The game and its markets (latest state and prices), or None when unknown."""
    async with db.connection() as conn:
        games = await fetch(conn, GameRow, _GAME, [game_id])
        if not games:
            return None
        markets = await fetch(conn, MarketRow, _MARKETS, [game_id])
    return {**game_json(games[0]), "markets": [_market_json(m) for m in markets]}


async def timeline(db: Database, game_id: str) -> list[TimelineEvent] | None:
    """The game's events in game order (seq), or None when the game is unknown."""
    rows = await db.fetch_all(EventRow, _TIMELINE, [game_id])
    if not rows:
        return None
    return [
        {
            "event_id": r.event_id,
            "ts": r.ts,
            "seq": r.seq,
            "kind": r.kind,
            "status": r.status,
            "score": {"home": r.score_home, "away": r.score_away},
            "period": r.period,
            "clock": r.clock,
        }
        for r in rows
        if r.event_id is not None
    ]
