"""Games: the paged list, one game with its markets, and a game's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_api.db import Database

GAME_COLUMNS = (
    "game_id, league, sport, home, away, start_time, status, score_home, score_away, "
    "period, clock, results, updated_at"
)


def game_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ``games`` row (``GAME_COLUMNS`` order) as the API's game object."""
    (game_id, league, sport, home, away, start, status, sh, sa, period, clock, results, upd) = row
    return {
        "game_id": game_id,
        "league": league,
        "sport": sport,
        "home": home,
        "away": away,
        "start_time": start,
        "status": status,
        "score": {"home": sh, "away": sa},
        "period": period,
        "clock": clock,
        "results": results,
        "updated_at": upd,
    }


async def list_games(
    db: Database,
    *,
    status: str | None,
    league: str | None,
    sport: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` games in (start_time, game_id) order, after the cursor position."""
    where, args = [], []
    for column, value in (("status", status), ("league", league), ("sport", sport)):
        if value is not None:
            where.append(f"{column} = %s")
            args.append(value)
    if after is not None:
        # Row comparison keeps the order total (game_id breaks start_time ties): stable pages.
        where.append("(start_time, game_id) > (%s, %s)")
        args += list(after)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {GAME_COLUMNS} FROM games {clause} ORDER BY start_time, game_id LIMIT %s"
    return await db.fetch_all(sql, [*args, limit])


async def game_with_markets(db: Database, game_id: str) -> dict[str, Any] | None:
    """The game and its markets (latest state and prices), or None when unknown."""
    async with db.connection() as conn:
        cur = await conn.execute(f"SELECT {GAME_COLUMNS} FROM games WHERE game_id = %s", [game_id])
        row = await cur.fetchone()
        if row is None:
            return None
        cur = await conn.execute(
            "SELECT market_id, kind, line, status, prices, last_seq, updated_at FROM markets "
            "WHERE game_id = %s ORDER BY market_id",
            [game_id],
        )
        markets = await cur.fetchall()
    game = game_json(row)
    game["markets"] = [
        {
            "market_id": m[0],
            "kind": m[1],
            "line": m[2],
            "status": m[3],
            "prices": m[4],
            "seq": m[5],
            "updated_at": m[6],
        }
        for m in markets
    ]
    return game


async def timeline(db: Database, game_id: str) -> list[dict[str, Any]] | None:
    """The game's events in game order (seq), or None when the game is unknown."""
    rows = await db.fetch_all(
        "SELECT e.event_id, e.ts, e.seq, e.kind, e.status, e.score_home, e.score_away, "
        "e.period, e.clock FROM games g LEFT JOIN game_events e ON e.game_id = g.game_id "
        "WHERE g.game_id = %s ORDER BY e.seq, e.ts",
        [game_id],
    )
    if not rows:
        return None
    return [
        {
            "event_id": r[0],
            "ts": r[1],
            "seq": r[2],
            "kind": r[3],
            "status": r[4],
            "score": {"home": r[5], "away": r[6]},
            "period": r[7],
            "clock": r[8],
        }
        for r in rows
        if r[0] is not None
    ]
