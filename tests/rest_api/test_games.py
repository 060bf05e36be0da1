"""/v1/games: list with filters and cursor paging, one game with markets, timeline."""

from __future__ import annotations

import httpx

from tests.rest_api.helpers import EVENTS, M1_PRICES, PAGING, assert_error


async def test_list_filters_return_exactly_the_seeded_games(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/games", params={"league": "Premier League"})
    assert r.status_code == 200
    body = r.json()
    assert [g["game_id"] for g in body["data"]] == ["rt-g1", "rt-g2"]
    assert body["next_cursor"] is None
    g1 = body["data"][0]
    assert g1 == {
        "game_id": "rt-g1",
        "league": "Premier League",
        "sport": "football",
        "home": "Manchester United",
        "away": "Arsenal",
        "start_time": "2030-01-01T12:00:00Z",
        "status": "live",
        "score": {"home": 1, "away": 0},
        "period": 1,
        "clock": 1800,
        "results": None,
        "updated_at": "2030-01-01T12:00:00Z",
    }
    r = await client.get("/v1/games", params={"status": "live", "sport": "basketball"})
    assert [g["game_id"] for g in r.json()["data"]] == ["rt-g4"]
    r = await client.get("/v1/games", params={"status": "live", "league": "La Liga"})
    assert r.json() == {"data": [], "next_cursor": None}


async def test_cursor_pages_cover_every_game_once_in_stable_order(
    client: httpx.AsyncClient,
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"league": "Paging League", "limit": "4"}
        if cursor:
            query["cursor"] = cursor
        r = await client.get("/v1/games", params=query)
        assert r.status_code == 200
        body = r.json()
        assert len(body["data"]) <= 4
        seen += [g["game_id"] for g in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = [g["game_id"] for g in sorted(PAGING, key=lambda g: (g["start_time"], g["game_id"]))]
    assert seen == expected
    assert pages == 7  # 25 games, 4 a page


async def test_list_bad_parameters(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/games?cursor=not-a-cursor"), 400, "bad_parameter", "cursor")
    assert_error(await client.get("/v1/games?limit=0"), 400, "bad_parameter", "limit")
    assert_error(await client.get("/v1/games?limit=1000"), 400, "bad_parameter", "limit")
    assert_error(await client.get("/v1/games?status=running"), 400, "bad_parameter", "status")


async def test_game_with_markets_and_latest_prices(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/games/rt-g1")
    assert r.status_code == 200
    game = r.json()
    assert game["home"] == "Manchester United" and game["score"] == {"home": 1, "away": 0}
    assert [m["market_id"] for m in game["markets"]] == ["rt-m1", "rt-m2"]
    m1, m2 = game["markets"]
    assert m1["prices"] == M1_PRICES and m1["kind"] == "match_winner" and m1["line"] is None
    assert m1["status"] == "open" and m1["seq"] == 7
    assert m2["prices"] == {"over": 1.9, "under": 1.95} and m2["line"] == 2.5
    r = await client.get("/v1/games/rt-g2")
    assert r.json()["markets"] == []


async def test_timeline_in_game_order(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/games/rt-g1/timeline")
    assert r.status_code == 200
    events = r.json()["events"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["kind"] for e in events] == [k for _, k, *_ in sorted(EVENTS)]
    assert events[2]["score"] == {"home": 1, "away": 0} and events[2]["clock"] == 1800
    assert events[0]["ts"] == "2030-01-01T11:00:00Z"
    r = await client.get("/v1/games/rt-g3/timeline")
    assert r.json() == {"game_id": "rt-g3", "events": []}


async def test_unknown_game_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/games/nope"), 404, "not_found")
    assert_error(await client.get("/v1/games/nope/timeline"), 404, "not_found")
    assert_error(await client.get("/v1/games/" + "x" * 300), 400, "bad_parameter", "game_id")
