"""Shared data and helpers of the REST API tests: the rows seeded, an in-process client.

The rows are chosen here and the tests check that the API returns exactly them (or the right
aggregates of them); nothing depends on the sink.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
from jsonschema import Draft202012Validator

from rest_api import openapi
from rest_api.app import all_routes, create_app
from rest_api.settings import Settings

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

GAMES: list[dict[str, Any]] = [
    # game_id, league, sport, home, away, start_time, status, score, period, clock
    dict(
        game_id="rt-g1",
        league="Premier League",
        sport="football",
        home="Manchester United",
        away="Arsenal",
        start_time=T0,
        status="live",
        score=(1, 0),
        period=1,
        clock=1800,
    ),
    dict(
        game_id="rt-g2",
        league="Premier League",
        sport="football",
        home="Manchester City",
        away="Chelsea",
        start_time=T0 + 3 * 60 * MIN,
        status="scheduled",
        score=(0, 0),
        period=None,
        clock=None,
    ),
    dict(
        game_id="rt-g3",
        league="La Liga",
        sport="football",
        home="Real Madrid",
        away="Barcelona",
        start_time=T0 - 24 * 60 * MIN,
        status="finished",
        score=(2, 2),
        period=2,
        clock=5400,
    ),
    dict(
        game_id="rt-g4",
        league="NBA",
        sport="basketball",
        home="Boston Celtics",
        away="Los Angeles Lakers",
        start_time=T0,
        status="live",
        score=(88, 90),
        period=4,
        clock=300,
    ),
]
# Paging: 25 games of one league, several sharing a start time (game_id breaks the tie).
PAGING = [
    dict(
        game_id=f"rt-p{i:02d}",
        league="Paging League",
        sport="curling",
        home=f"Stones {i}",
        away=f"Brooms {i}",
        start_time=T0 + (i // 3) * MIN,
        status="scheduled",
        score=(0, 0),
        period=None,
        clock=None,
    )
    for i in range(25)
]

M1 = "rt-m1"
M1_PRICES = {"home": 2.1, "draw": 3.4, "away": 3.9}
# (width, selection, bucket, open, high, low, close, ticks)
CANDLES = [
    ("1 minute", "home", T0, 2.0, 2.2, 1.9, 2.1, 4),
    ("1 minute", "home", T0 + MIN, 2.1, 2.15, 2.05, 2.12, 3),
    ("1 minute", "away", T0, 4.0, 4.1, 3.8, 3.9, 2),
    ("1 minute", "home", T0 + 10 * MIN, 2.3, 2.3, 2.3, 2.3, 1),
    ("5 minutes", "home", T0, 2.0, 2.2, 1.9, 2.12, 7),
    ("5 minutes", "away", T0, 4.0, 4.1, 3.8, 3.9, 2),
]
# (width, selection, bucket, bets, stake, payout)
VOLUME = [
    ("1 minute", "home", T0, 2, 1000, 2100.0),
    ("1 minute", "home", T0 + 6 * MIN, 1, 500, 1100.0),
    ("1 minute", "away", T0 + MIN, 3, 300, 1170.0),
    ("5 minutes", "home", T0, 2, 1000, 2100.0),
    ("5 minutes", "home", T0 + 5 * MIN, 1, 500, 1100.0),
    ("5 minutes", "away", T0, 3, 300, 1170.0),
]
# Timeline of rt-g1, inserted out of order: (seq, kind, status, score, period, clock, ts offset)
EVENTS = [
    (3, "score", "live", (1, 0), 1, 1800, 30 * MIN),
    (1, "scheduled", "scheduled", (0, 0), None, None, -60 * MIN),
    (2, "started", "live", (0, 0), 1, 0, 0 * MIN),
]


def insert_game(cur: psycopg.Cursor, g: dict[str, Any]) -> None:
    cur.execute(
        "INSERT INTO games (game_id, league, sport, home, away, start_time, status, score_home,"
        " score_away, period, clock, results, last_seq, updated_at)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,NULL,1,%s)",
        (
            g["game_id"],
            g["league"],
            g["sport"],
            g["home"],
            g["away"],
            g["start_time"],
            g["status"],
            g["score"][0],
            g["score"][1],
            g["period"],
            g["clock"],
            T0,
        ),
    )


def settings_for(dsn: str, redis_url: str = "redis://127.0.0.1:1/0", **overrides: Any) -> Settings:
    """Settings pointing at the harness; overrides by field name."""
    return Settings(database_url=dsn, redis_url=redis_url, **overrides)


class AppClient:
    """An httpx client over an app running its lifespan, in-process (no sockets)."""

    def __init__(self, settings: Settings, peer: str = "10.1.2.3") -> None:
        self.app = create_app(settings)
        transport = httpx.ASGITransport(app=self.app, client=(peer, 1234))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://api")
        self._lifespan = self.app.router.lifespan_context(self.app)

    async def __aenter__(self) -> httpx.AsyncClient:
        await self._lifespan.__aenter__()
        return self.http

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self._lifespan.__aexit__(None, None, None)


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI document, as JSON (what /openapi.json serves)."""
    return orjson.loads(orjson.dumps(openapi.build(all_routes())))


def _strict(schema: Any) -> Any:
    # Every object has exactly its documented properties: an undocumented field is drift too.
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items()}
    if "properties" in strict:
        strict.setdefault("additionalProperties", False)
    return strict


def assert_matches(schema: dict[str, Any], body: Any) -> None:
    """``body`` is valid against ``schema`` (refs into the document), no field undocumented."""
    root = {**schema, "components": _strict(spec()["components"])}
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], errors


def assert_error(response: httpx.Response, status: int, code: str, parameter: str | None = None):
    """The response is the API's JSON error with this status and code (and parameter)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_matches({"$ref": "#/components/schemas/Error"}, response.json())
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    if parameter is not None:
        assert error["parameter"] == parameter
