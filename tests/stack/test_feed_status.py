"""make up's status line: rates, totals and ingest's lag, with a hint when ingest is behind."""

from __future__ import annotations

from collections import Counter

from stack.feed_status import SLOW_LAG_MS, format_rates


def _lag(p50: int, p99: int) -> dict[str, int]:
    """A window as ingest leaves it in Redis."""
    return {"lag_ms_p50": p50, "lag_ms_p99": p99, "lag_ms_max": p99}


def test_rates_totals_and_lag():
    line = format_rates(
        Counter(games=5, odds=700, bets=300),
        5.0,
        Counter(games=50, odds=7000, bets=3000),
        _lag(20, 60),
        dead_letters=2,
    )
    assert line == (
        "feed  games 1.0/s  odds 140.0/s  bets 60.0/s  dead-letters 2  (total 10,050)"
        "  ingest lag p50 20 ms p99 60 ms"
    )


def test_a_slow_ingest_says_where_to_look():
    line = format_rates(Counter(), 5.0, Counter(), _lag(SLOW_LAG_MS + 1, 2000))
    assert "p50 501 ms p99 2,000 ms" in line and "ingest is behind" in line
    start_up = format_rates(Counter(), 5.0, Counter(), _lag(900, 3000), False)
    assert "p99 3,000 ms" in start_up and "behind" not in start_up
    # One slow moment lifts the window's p99 only: no advice.
    pause = format_rates(Counter(), 5.0, Counter(), _lag(15, 1900))
    assert "behind" not in pause


def test_no_lag_reported_yet():
    assert "ingest lag" not in format_rates(Counter(odds=1), 1.0, Counter(odds=1))
