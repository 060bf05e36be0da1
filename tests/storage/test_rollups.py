"""Candle and volume maths: late and out-of-order ticks land in the right bucket."""

from __future__ import annotations

import itertools
import random

from storage.sink.rollups import MINUTE_MS, Candle, bucket_of, candles, volumes

T0 = 1_700_000_040_000  # a minute boundary
W = MINUTE_MS


def test_bucket_is_aligned_to_the_epoch() -> None:
    assert bucket_of(T0 + 59_999, W) == T0
    assert bucket_of(T0 + 60_000, W) == T0 + W
    assert bucket_of(T0 + 1, 5 * W) == T0 - 4 * W  # 1_699_999_800_000, a 5-minute boundary


def test_open_and_close_follow_event_time_not_arrival() -> None:
    arrival = [
        ("m", "home", T0 + 30_000, 3, 2.2),
        ("m", "home", T0 + 50_000, 4, 2.4),
        ("m", "home", T0 + 5_000, 2, 1.9),
    ]
    c = candles(arrival, (W,))[(W, "m", "home", T0)]
    assert (c.open, c.high, c.low, c.close, c.ticks) == (1.9, 2.4, 1.9, 2.4, 3)
    assert (c.open_ts, c.open_seq, c.close_ts, c.close_seq) == (T0 + 5_000, 2, T0 + 50_000, 4)


def test_same_time_ties_are_broken_by_seq() -> None:
    c = candles([("m", "s", T0, 9, 3.0), ("m", "s", T0, 8, 2.0)], (W,))[(W, "m", "s", T0)]
    assert (c.open, c.close) == (2.0, 3.0)


def test_a_late_tick_updates_only_its_own_older_bucket() -> None:
    stored = candles([("m", "s", T0 + 10_000, 1, 2.0), ("m", "s", T0 + W + 1, 2, 2.5)], (W,))
    late = candles([("m", "s", T0 + 1_000, 3, 5.0)], (W,))  # older than the current bucket
    assert list(late) == [(W, "m", "s", T0)]  # nothing for the newer bucket
    old = stored[(W, "m", "s", T0)]
    merged = old.merge(late[(W, "m", "s", T0)])
    assert (merged.open, merged.high, merged.low, merged.close, merged.ticks) == (
        5.0,
        5.0,
        2.0,
        2.0,
        2,
    )


def test_merge_gives_the_same_candle_whatever_the_split_and_order() -> None:
    rng = random.Random(3)
    ticks = [
        ("m", "s", T0 + rng.randrange(W), seq, round(rng.uniform(1.1, 9), 3)) for seq in range(40)
    ]
    whole = candles(ticks, (W,))[(W, "m", "s", T0)]
    for _ in range(20):
        rng.shuffle(ticks)
        cut = sorted(rng.sample(range(1, 40), 3))
        parts = [
            candles(ticks[a:b], (W,))[(W, "m", "s", T0)]
            for a, b in itertools.pairwise([0, *cut, 40])
        ]
        rng.shuffle(parts)
        merged = parts[0]
        for p in parts[1:]:
            merged = merged.merge(p)
        assert merged == whole


def test_candle_of_one_tick() -> None:
    assert Candle.of(2.0, T0, 1) == Candle(2.0, 2.0, 2.0, 2.0, T0, 1, T0, 1, 1)


def test_volumes_count_stake_and_payout_per_width() -> None:
    v = volumes([("m", "home", T0 + 1, 100, 2.5), ("m", "home", T0 + 2, 300, 2.0)])
    one, five = v[(W, "m", "home", T0)], v[(5 * W, "m", "home", bucket_of(T0, 5 * W))]
    assert (one.bets, one.stake, one.payout) == (2, 400, 850.0)
    assert one == five
