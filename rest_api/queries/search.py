"""Search: candidate names from the trigram index, then the games of the chosen names."""

from __future__ import annotations

from typing import NamedTuple

from rest_api.db import Database, columns, fetch
from rest_api.queries.games import GAME_COLUMNS, GameRow


class Term(NamedTuple):
    """A ``search_terms`` row: a team or league name and its sport."""

    kind: str  # "team" | "league"
    name: str
    sport: str


# The planner underestimates trigram GIN scans on small tables and picks a sequential scan
# that computes word_similarity for every name (10x slower, measured); steer it to the index.
# 0.4 lets one typo in a short word ("arsnal" ~ "arsenal" is 0.5) through.
_SEARCH_SETTINGS = (
    "SET LOCAL enable_seqscan = off; SET LOCAL pg_trgm.word_similarity_threshold = 0.4"
)
_TERMS = (
    f"SELECT {columns(Term)} FROM search_terms "
    "WHERE lower(name) LIKE ANY(%s) OR lower(name) %%> ANY(%s) LIMIT %s"
)
# Per chosen name, its most recent games by index; the union is ordered live first.
_GAMES = (
    f"SELECT {GAME_COLUMNS} FROM ("
    " SELECT g.* FROM unnest(%s::text[]) AS n(name) CROSS JOIN LATERAL ("
    "  (SELECT * FROM games WHERE home = n.name ORDER BY start_time DESC LIMIT %s)"
    "  UNION ALL (SELECT * FROM games WHERE away = n.name ORDER BY start_time DESC LIMIT %s)"
    " ) g"
    " UNION"
    " SELECT g.* FROM unnest(%s::text[]) AS n(name) CROSS JOIN LATERAL ("
    "  SELECT * FROM games WHERE league = n.name ORDER BY start_time DESC LIMIT %s"
    " ) g"
    ") found ORDER BY (status = 'live') DESC, start_time DESC, game_id LIMIT %s"
)
MAX_CANDIDATES = 300


async def candidate_terms(db: Database, likes: list[str], typos: list[str]) -> list[Term]:
    """Names matching any pattern or close to any typo word."""
    async with db.connection() as conn, conn.transaction():
        await conn.execute(_SEARCH_SETTINGS)
        return await fetch(conn, Term, _TERMS, [likes, typos, MAX_CANDIDATES])


async def games_of(
    db: Database, teams: list[str], leagues: list[str], per_name: int, limit: int
) -> list[GameRow]:
    """Recent games of the given teams or leagues, live first then newest."""
    if not teams and not leagues:
        return []
    return await db.fetch_all(
        GameRow, _GAMES, [teams, per_name, per_name, leagues, per_name, limit]
    )
