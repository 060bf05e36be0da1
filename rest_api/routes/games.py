"""``/v1/games``: the paged list, one game with its markets, its timeline."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inplay_events.schema import GameStatus
from rest_api import cursor, params
from rest_api.bodies import GameDetail, GameList, Timeline
from rest_api.caching import cached_json
from rest_api.errors import DatabaseUnavailable, NotFound
from rest_api.openapi import Operation, operation
from rest_api.queries import games

STATUS = params.Choice(
    "status", "Only games in this status.", allowed=tuple(s.value for s in GameStatus)
)
LEAGUE = params.Text("league", "Only games of this league (exact name).")
SPORT = params.Text("sport", "Only games of this sport (exact name).")
CURSOR = params.Cursor("cursor", "Opaque cursor from a previous page's next_cursor.")
LIMIT = params.Integer("limit", "Page size.", default=50, minimum=1, maximum=200)
GAME_ID = params.Identifier("game_id", "Game id.")


@operation(
    Operation(
        summary="List games, paged by an opaque cursor, in (start_time, game_id) order.",
        tag="games",
        response=GameList,
        params=(STATUS, LEAGUE, SPORT, CURSOR, LIMIT),
        errors=(DatabaseUnavailable,),
        cached=True,
    )
)
async def list_games(request: Request) -> Response:
    """A page of games matching the filters."""
    status, league, sport = STATUS.of(request), LEAGUE.of(request), SPORT.of(request)
    after = CURSOR.of(request)
    limit = LIMIT.of(request)
    # One row more than asked tells whether another page exists, without a count.
    rows = await games.list_games(
        request.app.state.db,
        status=status,
        league=league,
        sport=sport,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    payload: GameList = {
        "data": [games.game_json(r) for r in page],
        "next_cursor": cursor.encode(last.start_time, last.game_id) if last else None,
    }
    return cached_json(request, payload, max_age_s=1)


@operation(
    Operation(
        summary="One game with its markets and their latest prices.",
        tag="games",
        response=GameDetail,
        params=(GAME_ID,),
        errors=(NotFound, DatabaseUnavailable),
        cached=True,
    )
)
async def get_game(request: Request) -> Response:
    """The game, or 404."""
    game_id = GAME_ID.of(request)
    game = await games.game_with_markets(request.app.state.db, game_id)
    if game is None:
        raise NotFound(f"no game {game_id!r}")
    return cached_json(request, game, max_age_s=1)


@operation(
    Operation(
        summary="The game's events (start, score, period, ...) in game order.",
        tag="games",
        response=Timeline,
        params=(GAME_ID,),
        errors=(NotFound, DatabaseUnavailable),
        cached=True,
    )
)
async def get_timeline(request: Request) -> Response:
    """The game's events, or 404."""
    game_id = GAME_ID.of(request)
    events = await games.timeline(request.app.state.db, game_id)
    if events is None:
        raise NotFound(f"no game {game_id!r}")
    payload: Timeline = {"game_id": game_id, "events": events}
    return cached_json(request, payload, max_age_s=1)


routes = [
    Route("/v1/games", list_games, methods=["GET"], name="list_games"),
    Route("/v1/games/{game_id}", get_game, methods=["GET"], name="get_game"),
    Route("/v1/games/{game_id}/timeline", get_timeline, methods=["GET"], name="get_timeline"),
]
