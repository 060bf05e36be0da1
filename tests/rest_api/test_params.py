"""Query-parameter parsing: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rest_api import params
from rest_api.errors import BadParameter

NOW = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


def test_cursor_round_trips_and_rejects_garbage() -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    cursor = params.encode_cursor(start, "g/1 é")
    assert params.decode_cursor({"cursor": cursor}) == (start, "g/1 é")
    for bad in ["zzz", "", "!!!", params.encode_cursor(start, "x")[:-3], "WzEsMl0"]:
        with pytest.raises(BadParameter) as err:
            params.decode_cursor({"cursor": bad})
        assert err.value.parameter == "cursor"


def test_time_range_defaults_floor_and_limits() -> None:
    one = params.INTERVALS["1m"]
    start, end = params.time_range({}, one, NOW)
    # Default: up to the end of the bucket still filling, so it is included.
    assert end == datetime(2030, 1, 1, 12, 1, tzinfo=UTC)
    assert start == datetime(2030, 1, 1, 9, 1, tzinfo=UTC)
    start, end = params.time_range({"from": "2030-01-01T10:00:45Z"}, one, NOW)
    assert start == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)  # floored to the minute
    assert end == datetime(2030, 1, 1, 13, 0, 45, tzinfo=UTC)
    ms = int(datetime(2030, 1, 1, 11, 0, tzinfo=UTC).timestamp() * 1000)
    start, end = params.time_range({"from": str(ms), "to": "2030-01-01T11:30:00"}, one, NOW)
    assert (start, end - start) == (datetime(2030, 1, 1, 11, 0, tzinfo=UTC), timedelta(minutes=30))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
        ({"from": "2030-01-01T00:00:00Z", "to": "2030-01-03T00:00:00Z"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "12:00"}, "to"),
        # Near datetime's limits: a 400 naming the parameter, not an overflow (500).
        ({"from": "9999-12-31T23:00:00"}, "from"),
        ({"to": "0001-01-01T00:00:00"}, "to"),
        ({"from": "253402300000000"}, "from"),
    ],
)
def test_time_range_errors_name_the_parameter(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(BadParameter) as err:
        params.time_range(query, params.INTERVALS["1m"], NOW)
    assert err.value.parameter == parameter


def test_interval_limit_choice() -> None:
    assert params.interval({"interval": "5m"}).width == timedelta(minutes=5)
    for query in ({}, {"interval": "1h"}):
        with pytest.raises(BadParameter):
            params.interval(query)
    assert params.limit({}, 50, 200) == 50
    for raw in ("0", "201", "x", "-1"):
        with pytest.raises(BadParameter):
            params.limit({"limit": raw}, 50, 200)
    with pytest.raises(BadParameter):
        params.choice({"status": "running"}, "status", params.GAME_STATUSES)
