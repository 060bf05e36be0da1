"""One batch, one transaction, against the real database: late ticks, replays, the fence."""

from __future__ import annotations

import logging

import orjson
import psycopg
import pytest

from storage.migrate import migrate
from storage.sink.offsets import StaleOffsets
from storage.sink.rows import build
from storage.sink.writer import Writer
from tests.storage.helpers import run_id
from tests.storage.test_rows import Rec

T0 = 1_700_000_040_000  # a minute boundary


def _odds(run: str, seq: int, ts: int, price: float) -> dict:
    return {
        "v": 1,
        "id": f"{run}-{seq}",
        "type": "odds",
        "game_id": f"{run}-g",
        "ts": ts,
        "seq": seq,
        "market_id": f"{run}-m",
        "kind": "match_winner",
        "status": "open",
        "prices": {"home": price},
    }


def _batch(events: list[dict], first_offset: int):
    return build(
        [Rec("odds", 0, first_offset + i, b"k", orjson.dumps(e)) for i, e in enumerate(events)]
    )


def _candle(dsn: str, run: str, bucket_ms: int) -> tuple:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT open, high, low, close, ticks FROM candles WHERE market_id = %s"
            " AND width = interval '1 minute' AND bucket = to_timestamp(%s / 1000.0)",
            (f"{run}-m", bucket_ms),
        ).fetchone()


@pytest.mark.parametrize("mode", ["copy", "executemany"])
async def test_late_tick_updates_the_older_bucket_and_replays_change_nothing(stack, mode):
    migrate(stack.pg_dsn)
    run, group = run_id("w"), run_id("w-group-")
    writer = Writer(stack.pg_dsn, group, logging.getLogger("test"), mode=mode)
    try:
        first = _batch([_odds(run, 2, T0 + 20_000, 2.0), _odds(run, 3, T0 + W + 5, 2.2)], 0)
        await writer.write(first)
        assert _candle(stack.pg_dsn, run, T0) == (2.0, 2.0, 2.0, 2.0, 1)
        # Arrives after the next bucket began, but belongs to the first one, before its open.
        late = _batch([_odds(run, 1, T0 + 1_000, 2.6)], 2)
        await writer.write(late)
        assert _candle(stack.pg_dsn, run, T0) == (2.6, 2.6, 2.0, 2.0, 2)
        assert _candle(stack.pg_dsn, run, T0 + W) == (2.2, 2.2, 2.2, 2.2, 1)
        # And one with the same time as the close but a higher seq becomes the close.
        await writer.write(_batch([_odds(run, 4, T0 + 20_000, 1.5)], 3))
        assert _candle(stack.pg_dsn, run, T0) == (2.6, 2.6, 1.5, 1.5, 3)
        # Replaying an already committed batch is refused by the offsets and changes nothing.
        with pytest.raises(StaleOffsets):
            await writer.write(late)
        # Same events at new offsets (a producer re-sent them): stored once, no rollup change.
        result = await writer.write(_batch([_odds(run, 1, T0 + 1_000, 2.6)], 4))
        assert (result.ticks, result.candles) == (0, 0)
        assert _candle(stack.pg_dsn, run, T0) == (2.6, 2.6, 1.5, 1.5, 3)
        with psycopg.connect(stack.pg_dsn) as conn:
            market = conn.execute(
                "SELECT last_seq, prices FROM markets WHERE market_id = %s", (f"{run}-m",)
            ).fetchone()
        assert market == (4, {"home": 1.5})
    finally:
        await writer.close()


W = 60_000
