"""Contract v1: valid events round-trip; every kind of bad input is named and explained."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from inplay_events import (
    AliveEvent,
    BetEvent,
    GameEvent,
    InvalidEvent,
    OddsEvent,
    decode,
    encode,
    topic_for,
)
from inplay_events.deadletter import dead_letter


def odds(**over: Any) -> dict[str, Any]:
    event = {
        "v": 1, "id": "e1", "type": "odds", "game_id": "g1", "ts": 1_700_000_000_000, "seq": 3,
        "market_id": "g1-total", "kind": "total", "line": 2.5, "status": "open",
        "prices": {"over": 1.905, "under": 1.95},
    }  # fmt: skip
    return {**event, **over}


def game(**over: Any) -> dict[str, Any]:
    event = {
        "v": 1, "id": "e2", "type": "game", "game_id": "g1", "ts": 1_700_000_000_000, "seq": 1,
        "kind": "score", "status": "live", "league": "Premier League", "sport": "football",
        "home": "Manchester United", "away": "Arsenal", "start_time": 1_700_000_000_000,
        "score": {"home": 1, "away": 0}, "period": 1, "clock": 1234,
    }  # fmt: skip
    return {**event, **over}


def bet(**over: Any) -> dict[str, Any]:
    event = {
        "v": 1, "id": "e3", "type": "bet", "game_id": "g1", "ts": 1_700_000_000_000, "seq": 4,
        "bet_id": "b1", "account_id": "acc-1", "market_id": "g1-total", "selection_id": "over",
        "stake": 2500, "price": 1.905,
    }  # fmt: skip
    return {**event, **over}


def rejected(raw: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        decode(orjson.dumps(raw) if not isinstance(raw, bytes) else raw)
    return info.value


@pytest.mark.parametrize(
    ("raw", "model", "topic"),
    [(odds(), OddsEvent, "odds"), (game(), GameEvent, "games"), (bet(), BetEvent, "bets")],
)
def test_valid_events_round_trip(raw: dict[str, Any], model: type, topic: str) -> None:
    event = decode(orjson.dumps(raw))
    assert isinstance(event, model)
    assert orjson.loads(encode(event)) == raw
    assert topic_for(event.type) == topic


def test_match_winner_line_is_written_as_null() -> None:
    raw = odds(kind="match_winner", line=None, prices={"home": 2.1, "draw": 3.4, "away": 3.2})
    assert orjson.loads(encode(decode(orjson.dumps(raw))))["line"] is None


def test_alive_event_has_no_game() -> None:
    event = decode(b'{"v":1,"id":"a1","type":"alive","producer":"sim-1","ts":5}')
    assert isinstance(event, AliveEvent)


def test_unknown_type_is_named() -> None:
    err = rejected(odds(type="corner"))
    assert (err.field, err.code) == ("type", "invalid_event")
    assert "unknown type 'corner'" in err.reason


def test_unknown_version_is_named() -> None:
    err = rejected(odds(v=2))
    assert err.field == "v"
    assert "unknown version 2" in err.reason


@pytest.mark.parametrize("field", ["id", "game_id", "ts", "seq", "market_id", "prices"])
def test_missing_field_is_named(field: str) -> None:
    raw = odds()
    del raw[field]
    err = rejected(raw)
    assert (err.field, err.reason) == (field, "missing")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (odds(ts="yesterday"), "ts"),
        (odds(seq=1.5), "seq"),
        (odds(prices=[1.5, 2.0]), "prices"),
        (game(score={"home": "one", "away": 0}), "score.home"),
        (bet(stake=10.5), "stake"),
        (bet(stake="100"), "stake"),
    ],
)
def test_wrong_type_is_named(raw: dict[str, Any], field: str) -> None:
    err = rejected(raw)
    assert err.field == field
    assert "valid" in err.reason


@pytest.mark.parametrize("price", [1.0, 0.5, -3.0])
def test_price_not_above_one_is_rejected(price: float) -> None:
    err = rejected(odds(prices={"over": price, "under": 1.9}))
    assert err.field == "prices.over"
    assert "greater than 1.0" in err.reason
    assert rejected(bet(price=price)).field == "price"


@pytest.mark.parametrize("price", [1e306, 2_000_000.0])
def test_absurd_price_is_rejected_not_crashing(price: float) -> None:
    err = rejected(odds(prices={"over": price, "under": 1.9}))
    assert err.field == "prices.over"
    assert "above" in err.reason


def test_price_with_more_than_three_decimals_is_rejected() -> None:
    err = rejected(odds(prices={"over": 1.9055, "under": 1.9}))
    assert "three decimals" in err.reason


@pytest.mark.parametrize("stake", [-1, -2500, 0])
def test_non_positive_stake_is_rejected(stake: int) -> None:
    err = rejected(bet(stake=stake))
    assert err.field == "stake"
    assert "greater than 0" in err.reason


def test_unknown_enum_value_is_named() -> None:
    assert rejected(odds(status="paused")).field == "status"
    assert rejected(game(kind="corner")).field == "kind"


def test_line_must_fit_market_kind() -> None:
    assert rejected(odds(line=None)).field == "line"
    assert rejected(odds(kind="match_winner", line=1.5)).field == "line"


def test_settled_game_needs_results() -> None:
    assert rejected(game(kind="settled", status="settled")).field == "results"
    settled = decode(orjson.dumps(game(kind="settled", status="settled", results={"m": "home"})))
    assert isinstance(settled, GameEvent)
    assert settled.results == {"m": "home"}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"odds"', b""])
def test_not_an_object_is_rejected(raw: bytes) -> None:
    err = rejected(raw)
    assert err.field == ""
    assert err.reason


def test_error_serialises_for_dead_letters() -> None:
    err = rejected(bet(stake=-1))
    assert err.as_dict() == {"code": "invalid_event", "field": "stake", "reason": err.reason}


def test_dead_letter_names_consumer_source_and_reason() -> None:
    err = rejected(bet(stake=-1))
    letter = orjson.loads(dead_letter("storage-sink", err, "bets", 2, 41, b"\xffraw"))
    assert letter == {
        "consumer": "storage-sink",
        "reason": str(err),
        "error": err.as_dict(),
        "topic": "bets",
        "partition": 2,
        "offset": 41,
        "value": "\\xffraw",
    }
