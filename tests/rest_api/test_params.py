"""Query-parameter parsing, and what each parser documents: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from rest_api import cursor, params, timerange
from rest_api.bodies import IntervalName
from rest_api.errors import BadParameter
from rest_api.routes import games, markets, search

NOW = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


def _request(query: dict[str, str], **path: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": urlencode(query).encode(),
            "headers": [],
            "path_params": path,
        }
    )


def _range(query: dict[str, str]) -> tuple[datetime, datetime]:
    every, start, end = timerange.requested(_request({"interval": "1m", **query}), NOW)
    assert every is timerange.INTERVALS["1m"]
    return start, end


def _bad(param: params.Param[Any], raw: str | None) -> BadParameter:
    with pytest.raises(BadParameter) as err:
        param.parse(raw)
    assert err.value.parameter == param.name
    return err.value


def test_cursor_round_trips_and_rejects_garbage() -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    raw = cursor.encode(start, "g/1 é")
    assert games.CURSOR.parse(raw) == (start, "g/1 é")
    assert games.CURSOR.parse(raw).game_id == "g/1 é"
    assert games.CURSOR.parse(None) is None
    nul_id = cursor.encode(start, "g\x00")  # well formed, but no game can have that id
    for bad in ["zzz", "", "!!!", cursor.encode(start, "x")[:-3], "WzEsMl0", nul_id, "\x00"]:
        _bad(games.CURSOR, bad)


def test_time_range_defaults_floor_and_limits() -> None:
    start, end = _range({})
    # Default: up to the end of the bucket still filling, so it is included.
    assert end == datetime(2030, 1, 1, 12, 1, tzinfo=UTC)
    assert start == datetime(2030, 1, 1, 9, 1, tzinfo=UTC)
    start, end = _range({"from": "2030-01-01T10:00:45Z"})
    assert start == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)  # floored to the minute
    assert end == datetime(2030, 1, 1, 13, 0, 45, tzinfo=UTC)
    ms = int(datetime(2030, 1, 1, 11, 0, tzinfo=UTC).timestamp() * 1000)
    start, end = _range({"from": str(ms), "to": "2030-01-01T11:30:00"})
    assert (start, end - start) == (datetime(2030, 1, 1, 11, 0, tzinfo=UTC), timedelta(minutes=30))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
        ({"from": "2030-01-01T00:00:00Z", "to": "2030-01-03T00:00:00Z"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "12:00"}, "to"),
        ({"from": "\x00"}, "from"),
        # Near datetime's limits: a 400 naming the parameter, not an overflow (500).
        ({"from": "9999-12-31T23:00:00"}, "from"),
        ({"to": "0001-01-01T00:00:00"}, "to"),
        ({"from": "253402300000000"}, "from"),
        # to is read first.
        ({"from": "yesterday", "to": "soon"}, "to"),
    ],
)
def test_time_range_errors_name_the_parameter(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(BadParameter) as err:
        _range(query)
    assert err.value.parameter == parameter


def test_interval_limit_choice() -> None:
    assert timerange.INTERVAL.parse("5m").width == timedelta(minutes=5)
    for raw in (None, "1h", "\x00"):
        _bad(timerange.INTERVAL, raw)
    assert games.LIMIT.parse(None) == 50
    assert games.LIMIT.parse("200") == 200
    for raw in ("0", "201", "x", "-1", "\x00"):
        _bad(games.LIMIT, raw)
    assert games.STATUS.parse("live") == "live" and games.STATUS.parse(None) is None
    _bad(games.STATUS, "running")


def test_text_parameters_reject_nul_empty_and_too_long() -> None:
    assert games.LEAGUE.parse(None) is None
    assert games.LEAGUE.parse("x" * params.MAX_TEXT) == "x" * params.MAX_TEXT
    for raw in ("", "x" * (params.MAX_TEXT + 1), "\x00", "Premier\x00League"):
        _bad(games.LEAGUE, raw)
    assert markets.MARKET_ID.of(_request({}, market_id="m-1")) == "m-1"
    for raw in ("", "m" * 201, "m\x00"):
        _bad(markets.MARKET_ID, raw)
    assert search.Q.parse("  man utd ") == "man utd"
    for raw in (None, " ", "a" * 101, "man\x00"):
        _bad(search.Q, raw)


def test_each_parser_documents_the_limits_it_checks() -> None:
    league = games.LEAGUE.openapi()
    assert league["in"] == "query" and league["required"] is False
    assert league["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": params.MAX_TEXT,
        "pattern": "^[^\\u0000]*$",
    }
    assert games.GAME_ID.openapi()["in"] == "path" and games.GAME_ID.openapi()["required"]
    assert search.LIMIT.schema() == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert search.Q.openapi()["required"] and search.Q.schema()["maxLength"] == 100
    assert games.STATUS.schema()["enum"] == [
        "scheduled",
        "live",
        "suspended",
        "finished",
        "settled",
        "cancelled",
    ]
    assert timerange.INTERVAL.openapi()["required"]
    assert timerange.INTERVAL.schema()["enum"] == list(timerange.INTERVALS)
    epoch_ms = timerange.FROM.schema()["oneOf"][1]
    assert timerange.FROM.parse(str(epoch_ms["maximum"])) == params.LATEST
    _bad(timerange.FROM, str(epoch_ms["maximum"] + 1))
    assert "3 h (1m) or 12 h (5m)" in timerange.FROM.description


def test_interval_names_match_the_body_type() -> None:
    assert set(timerange.INTERVALS) == set(get_args(IntervalName))
    assert all(name == i.name for name, i in timerange.INTERVALS.items())


def test_span_text() -> None:
    assert timerange.span_text(timedelta(hours=24)) == "24 h"
    assert timerange.span_text(timedelta(days=7)) == "7 days"
    assert timerange.span_text(timedelta(minutes=90)) == "90 min"
