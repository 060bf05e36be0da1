"""``/v1/search``: type-ahead over teams, leagues and games."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rest_api import params, typeahead
from rest_api.bodies import NameHit, SearchGame, SearchResults
from rest_api.caching import cached_json
from rest_api.errors import DatabaseUnavailable
from rest_api.openapi import Operation, operation
from rest_api.queries import search
from rest_api.queries.games import game_json

Q = params.SearchText(
    "q",
    "What the user typed: word prefixes, common abbreviations and small typos match.",
    max_length=100,
)
LIMIT = params.Integer("limit", "Most results per group.", default=10, minimum=1, maximum=50)

# Games are looked up for this many best-matching teams and leagues.
_NAMES_FOR_GAMES = 5


def _names_for_games(tokens: list[str], names: list[str]) -> list[str]:
    chosen = [n for n, _ in typeahead.rank(tokens, names, _NAMES_FOR_GAMES)]
    if len(tokens) > 1:
        for token in tokens:
            chosen += [n for n, _ in typeahead.rank([token], names, 3) if n not in chosen]
    return chosen


def _hits(tokens: list[str], terms: list[search.Term], kind: str, limit: int) -> list[NameHit]:
    sports = {t.name: t.sport for t in terms if t.kind == kind}
    return [
        {"name": name, "sport": sports[name], "score_match": s}
        for name, s in typeahead.rank(tokens, list(sports), limit)
    ]


@operation(
    Operation(
        summary="Type-ahead: teams, leagues and games matching what the user typed.",
        tag="search",
        response=SearchResults,
        params=(Q, LIMIT),
        errors=(DatabaseUnavailable,),
        cached=True,
        description="Every typed word must match a word of the name: as a prefix "
        '("manch"), an abbreviation ("utd" for United) or with a small typo ("arsnal"). '
        "Games: those of the best matching teams and leagues, live first, then newest.",
    )
)
async def get_search(request: Request) -> Response:
    """Ranked teams, leagues and games."""
    q = Q.of(request)
    limit = LIMIT.of(request)
    tokens = typeahead.query_words(q)
    payload: SearchResults = {"q": q, "teams": [], "leagues": [], "games": []}
    if not tokens:
        return cached_json(request, payload, max_age_s=5)
    db = request.app.state.db
    likes, typos = typeahead.candidate_patterns(tokens)
    terms = await search.candidate_terms(db, likes, typos)
    payload["teams"] = _hits(tokens, terms, "team", limit)
    payload["leagues"] = _hits(tokens, terms, "league", limit)
    names = {kind: [t.name for t in terms if t.kind == kind] for kind in ("team", "league")}
    # Games match on their teams and league together ("arsenal chelsea"), so they are
    # fetched for the names all words match and for the best names of each word alone,
    # then scored as a whole.
    teams = _names_for_games(tokens, names["team"])
    leagues = _names_for_games(tokens, names["league"])
    rows = await search.games_of(db, teams, leagues, per_name=limit, limit=limit * 4)
    scored: list[SearchGame] = []
    for row in rows:
        s = typeahead.score(tokens, typeahead.words(f"{row.home} {row.away} {row.league}"))
        if s > 0:
            scored.append({**game_json(row), "score_match": s})
    # Stable sort keeps the query's live-first, newest-first order among equal scores.
    scored.sort(key=lambda g: -g["score_match"])
    payload["games"] = scored[:limit]
    return cached_json(request, payload, max_age_s=5)


routes = [Route("/v1/search", get_search, methods=["GET"], name="search")]
