"""make up's status line: rates, totals and ingest's lag, with a hint when the broker slows."""

from __future__ import annotations

from collections import Counter

from stack.feed_status import SLOW_LAG_MS, format_rates


def test_rates_totals_and_lag():
    line = format_rates(
        Counter(games=5, odds=700, bets=300),
        5.0,
        Counter(games=50, odds=7000, bets=3000, **{"dead-letters": 2}),
        {"p50": 20, "p99": 60, "max": 70},
    )
    assert line == (
        "feed  games 1.0/s  odds 140.0/s  bets 60.0/s  dead-letters 2  (total 10,050)"
        "  ingest lag p50 20 ms p99 60 ms"
    )


def test_a_slow_ingest_says_why_and_what_to_do():
    line = format_rates(Counter(), 5.0, Counter(), {"p50": SLOW_LAG_MS + 1, "p99": 2000, "max": 0})
    assert "p50 501 ms p99 2,000 ms" in line and "restart make up" in line
    start_up = format_rates(Counter(), 5.0, Counter(), {"p50": 900, "p99": 3000, "max": 0}, False)
    assert "p99 3,000 ms" in start_up and "restart" not in start_up
    # A rotation's pause lifts the window's p99 only: no advice.
    pause = format_rates(Counter(), 5.0, Counter(), {"p50": 15, "p99": 1900, "max": 1950})
    assert "restart" not in pause


def test_no_lag_reported_yet():
    assert "ingest lag" not in format_rates(Counter(odds=1), 1.0, Counter(odds=1))
