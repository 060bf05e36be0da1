"""Candle and bet-volume maths: pure functions over ticks and bets, mergeable across batches.

A batch's new rows are folded into partial candles here; the writer merges each partial into
the stored candle with the same rule as ``Candle.merge`` (in SQL), so the result does not
depend on how events were split into batches or in which order they arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MINUTE_MS = 60_000
WIDTHS_MS: tuple[int, ...] = (MINUTE_MS, 5 * MINUTE_MS)

# (width_ms, market_id, selection_id, bucket_ms)
Key = tuple[int, str, str, int]


def bucket_of(ts_ms: int, width_ms: int) -> int:
    """Start of the bucket holding ``ts_ms`` (buckets aligned to the Unix epoch)."""
    return ts_ms - ts_ms % width_ms


@dataclass(slots=True)
class Candle:
    """OHLC of one selection in one bucket; open/close are the earliest/latest by (ts, seq)."""

    open: float
    high: float
    low: float
    close: float
    open_ts: int
    open_seq: int
    close_ts: int
    close_seq: int
    ticks: int

    @classmethod
    def of(cls, price: float, ts: int, seq: int) -> Candle:
        """A candle of a single tick."""
        return cls(price, price, price, price, ts, seq, ts, seq, 1)

    def add(self, price: float, ts: int, seq: int) -> None:
        """Fold one more tick in."""
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        if (ts, seq) < (self.open_ts, self.open_seq):
            self.open, self.open_ts, self.open_seq = price, ts, seq
        if (ts, seq) > (self.close_ts, self.close_seq):
            self.close, self.close_ts, self.close_seq = price, ts, seq
        self.ticks += 1

    def merge(self, other: Candle) -> Candle:
        """The candle of both tick sets (associative and commutative)."""
        earlier = (self.open_ts, self.open_seq) <= (other.open_ts, other.open_seq)
        later = (self.close_ts, self.close_seq) >= (other.close_ts, other.close_seq)
        first = self if earlier else other
        last = self if later else other
        return Candle(
            first.open,
            max(self.high, other.high),
            min(self.low, other.low),
            last.close,
            first.open_ts,
            first.open_seq,
            last.close_ts,
            last.close_seq,
            self.ticks + other.ticks,
        )


@dataclass(slots=True)
class Volume:
    """Bets on one selection in one bucket: count, stake and potential payout."""

    bets: int = 0
    stake: int = 0
    payout: float = 0.0

    def add(self, stake: int, price: float) -> None:
        """Fold one more bet in."""
        self.bets += 1
        self.stake += stake
        self.payout += stake * price


def candles(
    ticks: Iterable[tuple[str, str, int, int, float]], widths: tuple[int, ...] = WIDTHS_MS
) -> dict[Key, Candle]:
    """Candles of (market_id, selection_id, ts_ms, seq, price) ticks, per width and bucket."""
    out: dict[Key, Candle] = {}
    get = out.get
    for market_id, selection_id, ts, seq, price in ticks:
        for width in widths:
            key = (width, market_id, selection_id, ts - ts % width)
            candle = get(key)
            if candle is None:
                out[key] = Candle.of(price, ts, seq)
            else:
                candle.add(price, ts, seq)
    return out


def volumes(
    bets: Iterable[tuple[str, str, int, int, float]], widths: tuple[int, ...] = WIDTHS_MS
) -> dict[Key, Volume]:
    """Bet volume of (market_id, selection_id, ts_ms, stake, price) bets, per width and bucket."""
    out: dict[Key, Volume] = {}
    for market_id, selection_id, ts, stake, price in bets:
        for width in widths:
            key = (width, market_id, selection_id, ts - ts % width)
            volume = out.get(key)
            if volume is None:
                volume = out[key] = Volume()
            volume.add(stake, price)
    return out
