"""Records → rows: dead letters with reasons, beacons skipped, duplicates dropped, offsets."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from storage.sink.rows import build

ODDS = {
    "v": 1,
    "id": "e1",
    "type": "odds",
    "game_id": "g",
    "ts": 1_000,
    "seq": 5,
    "market_id": "m",
    "kind": "match_winner",
    "status": "open",
    "prices": {"home": 2.0, "away": 3.0},
}
BET = {
    "v": 1,
    "id": "b1",
    "type": "bet",
    "game_id": "g",
    "ts": 2_000,
    "seq": 6,
    "bet_id": "x",
    "account_id": "a",
    "market_id": "m",
    "selection_id": "home",
    "stake": 100,
    "price": 2.0,
}
GAME = {
    "v": 1,
    "id": "g1",
    "type": "game",
    "game_id": "g",
    "ts": 0,
    "seq": 1,
    "kind": "started",
    "status": "live",
    "league": "L",
    "sport": "football",
    "home": "A",
    "away": "B",
    "start_time": 0,
    "score": {"home": 0, "away": 0},
}


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def recs(*values: dict | bytes | None, topic: str = "odds") -> list[Rec]:
    return [
        Rec(topic, 0, 10 + i, b"g", v if v is None or isinstance(v, bytes) else orjson.dumps(v))
        for i, v in enumerate(values)
    ]


def test_one_tick_per_selection_and_state_of_the_newest_seq() -> None:
    newer = {**ODDS, "id": "e2", "seq": 7, "status": "suspended"}
    out = build(recs(newer, ODDS, BET, GAME))
    assert [(t.selection_id, t.price) for t in out.ticks] == [("home", 2.0), ("away", 3.0)] * 2
    assert [(t.event_id, t.seq, t.market_status) for t in out.ticks[::2]] == [
        ("e2", 7, "suspended"),
        ("e1", 5, "open"),
    ]
    market = out.markets["m"]
    assert (market.status, market.last_seq, market.updated_at) == ("suspended", 7, 1_000)
    assert orjson.loads(market.prices) == {"home": 2.0, "away": 3.0}
    assert (out.bets[0].bet_id, out.bets[0].stake, out.bets[0].selection_id) == ("x", 100, "home")
    game = out.games["g"]
    assert (game.last_seq, game.status, game.home, game.results) == (1, "live", "A", None)
    assert out.events == 4


def test_equal_seqs_keep_the_first_state_seen() -> None:
    again = {**ODDS, "id": "e2", "status": "suspended"}
    out = build(recs(ODDS, again, {**GAME, "id": "g2", "status": "suspended"}, GAME))
    assert out.markets["m"].status == "open"
    assert out.games["g"].status == "suspended"


def test_duplicates_within_a_batch_are_dropped() -> None:
    out = build(recs(ODDS, ODDS, ODDS))
    assert (len(out.ticks), out.duplicates, out.events) == (2, 2, 1)


def test_offsets_cover_every_record_even_the_bad_ones() -> None:
    out = build(recs(ODDS, b"junk", None))
    assert out.first_offsets == {("odds", 0): 10}
    assert out.next_offsets == {("odds", 0): 13}


def test_bad_records_become_dead_letters_with_the_reason() -> None:
    alive = {"v": 1, "id": "a", "type": "alive", "producer": "p", "ts": 5}
    out = build(
        recs(
            b"{not json",
            None,
            {**ODDS, "v": 2},
            {**ODDS, "prices": {}},
            {**BET, "stake": 10**13},
            {**ODDS, "ts": 10**16},
            orjson.dumps({**ODDS, "market_id": "a\u0000b"}),
            {**GAME, "score": {"home": 2**31, "away": 0}},
            alive,
        )
    )
    reasons = [(d.error.field, d.error.reason) for d in out.dead]
    assert reasons[0][1].startswith("not JSON")
    assert reasons[1] == ("", "empty record (no value)")
    assert reasons[2][0] == "v"
    assert reasons[3][0] == "prices"
    assert reasons[4][0] == "stake"
    assert reasons[5][0] == "ts"
    assert "NUL" in reasons[6][1]
    assert reasons[7][0] == "score.home"
    assert out.alive == 1 and out.events == 0 and not out.ticks
    letter = orjson.loads(out.dead[0].encode())
    assert letter["consumer"] == "storage-sink"
    assert letter["error"] == {"code": "invalid_event", "field": "", "reason": reasons[0][1]}
    assert letter["value"] == "{not json"
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("odds", 0, 10)
