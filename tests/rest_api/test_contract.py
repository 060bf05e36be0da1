"""The OpenAPI document against the real answers: bodies, parameter limits, errors, headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from rest_api import cursor
from rest_api.queries import games
from tests.rest_api.helpers import T0, assert_error, assert_matches, spec

RANGE = {"from": "2030-01-01T12:00:00Z", "to": "2030-01-01T13:00:00Z"}


@dataclass(frozen=True)
class Example:
    """One request of a route that answers 200 with the seeded data."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def url(self, template: str) -> str:
        return template.format(**{k: quote(v, safe="") for k, v in self.path.items()})


# At least one per route of the document (a new route fails the test until it has one),
# chosen so that every array and optional value the document describes shows up filled.
EXAMPLES: dict[str, list[Example]] = {
    "/health": [Example()],
    "/ready": [Example()],
    "/metrics": [Example()],
    "/openapi.json": [Example()],
    "/docs": [Example()],
    "/v1/games": [
        Example(),
        Example(query={"league": "Paging League", "limit": "3"}),  # next_cursor set
        Example(query={"status": "settled", "sport": "ice hockey"}),  # results set
    ],
    "/v1/games/{game_id}": [Example({"game_id": "rt-g1"}), Example({"game_id": "rt-c1"})],
    "/v1/games/{game_id}/timeline": [Example({"game_id": "rt-g1"})],
    "/v1/markets/{market_id}/candles": [
        Example({"market_id": "rt-m1"}, {"interval": "1m", **RANGE}),
        Example({"market_id": "rt-m1"}, {"interval": "5m", **RANGE}),
    ],
    "/v1/markets/{market_id}/volume": [
        Example({"market_id": "rt-m1"}, {"interval": "1m", **RANGE}),
    ],
    "/v1/markets/{market_id}/exposure": [Example({"market_id": "rt-m1"})],
    "/v1/search": [Example(query={"q": "man utd"}), Example(query={"q": "premier"})],
}


@pytest.fixture(scope="module")
async def settled_game(seeded: str) -> None:
    """A settled game with results, which the shared seed does not have."""
    async with await psycopg.AsyncConnection.connect(seeded, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO games (game_id, league, sport, home, away, start_time, status,"
            " score_home, score_away, period, clock, results, last_seq, updated_at)"
            " VALUES ('rt-c1', 'Marsupial Cup', 'ice hockey', 'Quokka Rovers',"
            " 'Wombat Athletic', %s, 'settled', 3, 2, 3, 3600,"
            ' \'{"rt-cm1": "home", "rt-cm2": null}\', 9, %s) ON CONFLICT DO NOTHING',
            [T0, T0],
        )


def _operations() -> list[tuple[str, dict[str, Any]]]:
    return [(path, item["get"]) for path, item in spec()["paths"].items()]


async def test_every_route_answers_what_the_document_says(
    client: httpx.AsyncClient, settled_game: None
) -> None:
    served = await client.get("/openapi.json")
    assert served.headers["content-type"] == "application/json"
    assert served.json() == spec()
    assert set(EXAMPLES) == set(spec()["paths"])
    for path, op in _operations():
        (media_type, content), *_ = op["responses"]["200"]["content"].items()
        for example in EXAMPLES[path]:
            r = await client.get(example.url(path), params=example.query)
            assert r.status_code == 200, (path, example, r.text)
            assert r.headers["content-type"].split(";")[0] == media_type, path
            if media_type == "application/json":
                assert_matches(content["schema"], r.json())
    # The examples did reach the optional parts.
    page = (await client.get("/v1/games", params={"league": "Paging League", "limit": "3"})).json()
    assert isinstance(page["next_cursor"], str)
    assert (await client.get("/v1/games/rt-c1")).json()["results"] == {
        "rt-cm1": "home",
        "rt-cm2": None,
    }


def _bad_values(schema: dict[str, Any], location: str) -> list[str]:
    if "oneOf" in schema:
        return ["not-a-time", "\x00"]
    values = ["\x00"]
    if schema.get("type") == "integer":
        values += [str(schema["minimum"] - 1), str(schema["maximum"] + 1), "1.5"]
    if "enum" in schema:
        values.append("not-" + schema["enum"][0])
    if "maxLength" in schema:
        values.append("a" * (schema["maxLength"] + 1))
    if schema.get("minLength", 0) >= 1 and location == "query":
        values.append("")
    return values


def _edge_values(schema: dict[str, Any]) -> list[str]:
    if schema.get("type") == "integer":
        return [str(schema["minimum"]), str(schema["maximum"])]
    if "maxLength" in schema and "enum" not in schema:
        return ["a" * schema["maxLength"]]
    return []


def _with(example: Example, param: dict[str, Any], value: str | None) -> Example:
    name, bucket = param["name"], example.path if param["in"] == "path" else example.query
    changed = {k: v for k, v in bucket.items() if k != name}
    if value is not None:
        changed[name] = value
    if param["in"] == "path":
        return Example(changed, example.query)
    return Example(example.path, changed)


async def test_the_documented_limits_are_the_ones_checked(client: httpx.AsyncClient) -> None:
    """Past every documented limit (and with a NUL) a 400 naming the parameter; at it, not."""
    checked = 0
    for path, op in _operations():
        for param in op["parameters"]:
            if param["in"] == "header":
                continue
            example = EXAMPLES[path][0]
            for value in _bad_values(param["schema"], param["in"]):
                bad = _with(example, param, value)
                r = await client.get(bad.url(path), params=bad.query)
                assert_error(r, 400, "bad_parameter", param["name"])
                checked += 1
            if param["required"] and param["in"] == "query":
                missing = _with(example, param, None)
                r = await client.get(missing.url(path), params=missing.query)
                assert_error(r, 400, "bad_parameter", param["name"])
            for value in _edge_values(param["schema"]):
                edge = _with(example, param, value)
                r = await client.get(edge.url(path), params=edge.query)
                assert r.status_code in (200, 404), (path, param["name"], r.text)
    assert checked > 30


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/v1/games/%00", "game_id"),
        ("/v1/games/rt%00g1", "game_id"),
        ("/v1/games/%00/timeline", "game_id"),
        ("/v1/markets/%00/candles?interval=1m", "market_id"),
        ("/v1/markets/%00/volume?interval=1m", "market_id"),
        ("/v1/markets/%00/exposure", "market_id"),
        ("/v1/games?league=%00", "league"),
        ("/v1/games?sport=%00", "sport"),
        ("/v1/games?status=%00", "status"),
        ("/v1/games?limit=%00", "limit"),
        ("/v1/games?cursor=" + cursor.encode(T0, "rt-g1\x00"), "cursor"),
        ("/v1/markets/rt-m1/candles?interval=%00", "interval"),
        ("/v1/markets/rt-m1/volume?interval=1m&from=%00", "from"),
        ("/v1/search?q=%00", "q"),
        ("/v1/search?q=man%00utd", "q"),
    ],
)
async def test_nul_in_any_parameter_is_400(
    client: httpx.AsyncClient, url: str, parameter: str
) -> None:
    """PostgreSQL text cannot hold NUL: such a value is a bad parameter, never a 500."""
    assert_error(await client.get(url), 400, "bad_parameter", parameter)


async def test_405_says_which_methods_are_allowed(client: httpx.AsyncClient) -> None:
    for method in ("POST", "DELETE", "OPTIONS", "PROPFIND"):
        r = await client.request(method, "/v1/games/rt-g1")
        assert_error(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET, HEAD"
    documented = spec()["paths"]["/v1/games/{game_id}"]["get"]["responses"]["405"]
    assert "Allow" in documented["headers"]


async def test_unexpected_error_is_the_json_500_and_closes_the_connection(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(games, "timeline", broken)
    r = await client.get("/v1/games/rt-g1/timeline")
    assert_error(r, 500, "internal_error")
    assert r.headers["connection"] == "close"
    assert "secret detail" not in r.text
    logged = [rec for rec in caplog.records if rec.exc_info and rec.name == "rest_api"]
    assert [type(rec.exc_info[1]) for rec in logged] == [RuntimeError]  # type: ignore[index]
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/games/{game_id}/timeline",status="500"' in metrics
    # Expected errors keep the connection.
    assert "connection" not in (await client.get("/v1/games/nope")).headers
