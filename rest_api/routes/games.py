"""``/v1/games``: the paged list, one game with its markets, its timeline."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rest_api import params
from rest_api.caching import cached_json
from rest_api.errors import BadParameter, DatabaseUnavailable, NotFound, RateLimited
from rest_api.openapi import Operation, operation
from rest_api.queries import games

_V1_ERRORS = (RateLimited, DatabaseUnavailable)
MAX_LIMIT = 200


@operation(
    Operation(
        summary="List games, paged by an opaque cursor, in (start_time, game_id) order.",
        tag="games",
        response="GameList",
        params=(params.STATUS, params.LEAGUE, params.SPORT, params.CURSOR, params.LIMIT_GAMES),
        errors=(BadParameter, *_V1_ERRORS),
        cached=True,
    )
)
async def list_games(request: Request) -> Response:
    """A page of games matching the filters."""
    query = request.query_params
    status = params.choice(query, "status", params.GAME_STATUSES)
    league = params.text(query, "league")
    sport = params.text(query, "sport")
    after = params.decode_cursor(query)
    limit = params.limit(query, default=50, maximum=MAX_LIMIT)
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
    next_cursor = params.encode_cursor(page[-1][5], page[-1][0]) if len(rows) > limit else None
    payload = {"data": [games.game_json(r) for r in page], "next_cursor": next_cursor}
    return cached_json(request, payload, max_age_s=1)


@operation(
    Operation(
        summary="One game with its markets and their latest prices.",
        tag="games",
        response="GameDetail",
        params=(params.GAME_ID,),
        errors=(BadParameter, NotFound, *_V1_ERRORS),
        cached=True,
    )
)
async def get_game(request: Request) -> Response:
    """The game, or 404."""
    game_id = params.identifier(request.path_params["game_id"], "game_id")
    game = await games.game_with_markets(request.app.state.db, game_id)
    if game is None:
        raise NotFound(f"no game {game_id!r}")
    return cached_json(request, game, max_age_s=1)


@operation(
    Operation(
        summary="The game's events (start, score, period, ...) in game order.",
        tag="games",
        response="Timeline",
        params=(params.GAME_ID,),
        errors=(BadParameter, NotFound, *_V1_ERRORS),
        cached=True,
    )
)
async def get_timeline(request: Request) -> Response:
    """The game's events, or 404."""
    game_id = params.identifier(request.path_params["game_id"], "game_id")
    events = await games.timeline(request.app.state.db, game_id)
    if events is None:
        raise NotFound(f"no game {game_id!r}")
    return cached_json(request, {"game_id": game_id, "events": events}, max_age_s=1)


routes = [
    Route("/v1/games", list_games, methods=["GET"], name="list_games"),
    Route("/v1/games/{game_id}", get_game, methods=["GET"], name="get_game"),
    Route("/v1/games/{game_id}/timeline", get_timeline, methods=["GET"], name="get_timeline"),
]
