"""``/v1/search``: type-ahead over teams, leagues and games."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rest_api import params, typeahead
from rest_api.caching import cached_json
from rest_api.errors import BadParameter, DatabaseUnavailable, RateLimited
from rest_api.openapi import Operation, operation
from rest_api.queries import search
from rest_api.queries.games import game_json

# Games are looked up for this many best-matching teams and leagues.
_NAMES_FOR_GAMES = 5


def _names_for_games(tokens: list[str], names: list[str]) -> list[str]:
    chosen = [n for n, _ in typeahead.rank(tokens, names, _NAMES_FOR_GAMES)]
    if len(tokens) > 1:
        for token in tokens:
            chosen += [n for n, _ in typeahead.rank([token], names, 3) if n not in chosen]
    return chosen


@operation(
    Operation(
        summary="Type-ahead: teams, leagues and games matching what the user typed.",
        tag="search",
        response="SearchResults",
        params=(params.Q, params.LIMIT_SEARCH),
        errors=(BadParameter, RateLimited, DatabaseUnavailable),
        cached=True,
        description="Every typed word must match a word of the name: as a prefix "
        '("manch"), an abbreviation ("utd" for United) or with a small typo ("arsnal"). '
        "Games: those of the best matching teams and leagues, live first, then newest.",
    )
)
async def get_search(request: Request) -> Response:
    """Ranked teams, leagues and games."""
    query = request.query_params
    q = params.search_query(query)
    limit = params.limit(query, default=10, maximum=50)
    tokens = typeahead.query_words(q)
    payload: dict[str, Any] = {"q": q, "teams": [], "leagues": [], "games": []}
    if not tokens:
        return cached_json(request, payload, max_age_s=5)
    db = request.app.state.db
    likes, typos = typeahead.candidate_patterns(tokens)
    terms = await search.candidate_terms(db, likes, typos)
    sports = {(kind, name): sport for kind, name, sport in terms}
    for kind, key in (("team", "teams"), ("league", "leagues")):
        names = [name for k, name, _ in terms if k == kind]
        payload[key] = [
            {"name": name, "sport": sports[(kind, name)], "score_match": s}
            for name, s in typeahead.rank(tokens, names, limit)
        ]
    # Games match on their teams and league together ("arsenal chelsea"), so they are
    # fetched for the names all words match and for the best names of each word alone,
    # then scored as a whole.
    teams = _names_for_games(tokens, [n for k, n, _ in terms if k == "team"])
    leagues = _names_for_games(tokens, [n for k, n, _ in terms if k == "league"])
    rows = await search.games_of(db, teams, leagues, per_name=limit, limit=limit * 4)
    scored = []
    for row in rows:
        game = game_json(row)
        s = typeahead.score(
            tokens, typeahead.words(f"{game['home']} {game['away']} {game['league']}")
        )
        if s > 0:
            scored.append({**game, "score_match": s})
    # Stable sort keeps the query's live-first, newest-first order among equal scores.
    scored.sort(key=lambda g: -g["score_match"])
    payload["games"] = scored[:limit]
    return cached_json(request, payload, max_age_s=5)


routes = [Route("/v1/search", get_search, methods=["GET"], name="search")]
