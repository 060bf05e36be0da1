"""/v1/search: type-ahead over teams, leagues and games against the real trigram index."""

from __future__ import annotations

import statistics
import time

import httpx
import psycopg

from tests.rest_api.helpers import assert_error


def _names(hits: list[dict]) -> list[str]:
    return [h["name"] for h in hits]


async def test_abbreviated_words_find_manchester_united(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/search", params={"q": "man utd"})
    assert r.status_code == 200
    body = r.json()
    assert _names(body["teams"]) == ["Manchester United"]
    assert [g["game_id"] for g in body["games"]] == ["rt-g1"]


async def test_prefix_finds_both_manchester_clubs(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/search", params={"q": "manch"})).json()
    assert set(_names(body["teams"])) == {"Manchester United", "Manchester City"}
    assert {g["game_id"] for g in body["games"]} == {"rt-g1", "rt-g2"}
    # Live first.
    assert body["games"][0]["game_id"] == "rt-g1"


async def test_typo_finds_arsenal_and_leagues_match(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/search", params={"q": "Arsnal"})).json()
    assert _names(body["teams"]) == ["Arsenal"]
    assert [g["game_id"] for g in body["games"]] == ["rt-g1"]
    body = (await client.get("/v1/search", params={"q": "premier"})).json()
    assert _names(body["leagues"]) == ["Premier League"]
    assert {g["game_id"] for g in body["games"]} == {"rt-g1", "rt-g2"}
    body = (await client.get("/v1/search", params={"q": "arsenal man"})).json()
    assert [g["game_id"] for g in body["games"]] == ["rt-g1"]  # both teams of one game
    body = (await client.get("/v1/search", params={"q": "zzqx"})).json()
    assert body == {"q": "zzqx", "teams": [], "leagues": [], "games": []}


async def test_search_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/search"), 400, "bad_parameter", "q")
    assert_error(await client.get("/v1/search?q=%20"), 400, "bad_parameter", "q")
    assert_error(await client.get("/v1/search", params={"q": "a" * 101}), 400, "bad_parameter", "q")
    r = await client.get("/v1/search", params={"q": "50%_\\"})
    assert r.status_code == 200  # LIKE wildcards are escaped, not an error


async def test_search_latency_per_keystroke(client: httpx.AsyncClient) -> None:
    """Types "manchester utd" one key at a time; prints the per-request latency (not a gate)."""
    typed = "manchester utd"
    timings = []
    for _ in range(5):
        for n in range(1, len(typed) + 1):
            started = time.perf_counter()
            r = await client.get("/v1/search", params={"q": typed[:n]})
            timings.append(time.perf_counter() - started)
            assert r.status_code == 200
    timings.sort()
    p50 = statistics.median(timings) * 1000
    p99 = timings[int(len(timings) * 0.99) - 1] * 1000
    print(
        f"\nsearch per keystroke (in-process, {len(timings)} requests): "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    assert p99 < 250  # only catches a pathological plan (a sequential scan per keystroke)


async def test_new_games_feed_search_and_upserts_keep_working(
    client: httpx.AsyncClient, seeded: str
) -> None:
    """The migration's trigger adds a new game's names; the sink's upserts are unaffected."""
    async with await psycopg.AsyncConnection.connect(seeded, autocommit=True) as conn:
        for status in ("scheduled", "live"):  # the second is an update: no trigger work
            await conn.execute(
                "INSERT INTO games (game_id, league, sport, home, away, start_time, status,"
                " score_home, score_away, last_seq, updated_at) VALUES ('rt-s1', 'Eredivisie',"
                " 'football', 'Feyenoord', 'Ajax', now(), %s, 0, 0, 1, now())"
                " ON CONFLICT (game_id) DO UPDATE SET status = excluded.status",
                [status],
            )
    body = (await client.get("/v1/search", params={"q": "feyen"})).json()
    assert _names(body["teams"]) == ["Feyenoord"]
    assert [(g["game_id"], g["status"]) for g in body["games"]] == [("rt-s1", "live")]
    body = (await client.get("/v1/search", params={"q": "eredivsie"})).json()  # typo
    assert _names(body["leagues"]) == ["Eredivisie"]
