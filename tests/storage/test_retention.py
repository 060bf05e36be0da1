"""Retention against the real database: what goes (raw chunks and rollup buckets wholly older
than their retention), what stays (newer rows, state rows, offsets), and nothing else moves.

Every test lives in years no other test writes (1999-2001), so the retention it applies, which
covers whole tables, can only touch its own rows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pydantic
import pytest

from storage.migrate import migrate
from storage.settings import SinkSettings
from storage.sink import retention
from storage.sink.rows import build
from storage.sink.writer import Writer
from tests.storage.helpers import Proxy, run_id, wait_until
from tests.storage.test_rows import Rec

RAW, ROLLUPS = timedelta(days=7), timedelta(days=90)
# Not on a 5-minute boundary, so a 5-minute bucket straddles the rollup cut-off.
NOW = datetime(2001, 3, 1, 0, 2, tzinfo=UTC)
RAW_CUT, ROLLUP_CUT = NOW - RAW, NOW - ROLLUPS  # 2001-02-22 00:02, 2000-12-01 00:02
MS = timedelta(milliseconds=1)

# One game with one market per age; each has an odds tick, a bet and a game event at that time.
AGES = {
    "ancient": datetime(2000, 11, 1, 12, tzinfo=UTC),  # older than both retentions
    # Its 1-minute bucket [00:01, 00:02) ends at the rollup cut-off; its 5-minute bucket
    # [00:00, 00:05) reaches past it.
    "rollup_edge": ROLLUP_CUT - 30 * 1000 * MS,
    "old": datetime(2001, 1, 15, 12, tzinfo=UTC),  # older than the raw retention only
    # Its whole day (and hour) is before the raw cut-off.
    "raw_old": datetime(2001, 2, 20, 12, tzinfo=UTC),
    "raw_new": RAW_CUT + MS,  # newer than the raw cut-off, by a millisecond
    "fresh": datetime(2001, 2, 28, 12, tzinfo=UTC),
}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _events(run: str, age: str, at: datetime) -> list[dict]:
    game, market, ts = f"{run}-{age}", f"{run}-{age}-mw", _ms(at)
    scoped = {"v": 1, "game_id": game, "ts": ts}
    return [
        {
            **scoped,
            "id": f"{game}-1",
            "seq": 1,
            "type": "game",
            "kind": "started",
            "status": "live",
            "league": "L",
            "sport": "football",
            "home": "A",
            "away": "B",
            "start_time": ts,
            "score": {"home": 0, "away": 0},
        },
        {
            **scoped,
            "id": f"{game}-2",
            "seq": 2,
            "type": "odds",
            "market_id": market,
            "kind": "match_winner",
            "status": "open",
            "prices": {"home": 2.0},
        },
        {
            **scoped,
            "id": f"{game}-3",
            "seq": 3,
            "type": "bet",
            "bet_id": f"{game}-b",
            "account_id": "acc",
            "market_id": market,
            "selection_id": "home",
            "stake": 100,
            "price": 2.0,
        },
    ]


async def _store(dsn: str, group: str, events: list[dict]) -> None:
    """Through the sink's own writer: raw rows, rollups, state rows and offsets."""
    writer = Writer(dsn, group, logging.getLogger("test.retention"))
    try:
        records = [Rec("odds", 0, i, b"k", orjson.dumps(e)) for i, e in enumerate(events)]
        await writer.write(build(records))
    finally:
        await writer.close()


def _ages(dsn: str, run: str, table: str, width: str | None = None) -> set[str]:
    """The ages that still have rows in ``table`` (of one rollup width, for the rollups)."""
    column = "market_id" if table in ("candles", "bet_volume", "markets") else "game_id"
    sql = f"SELECT {column} FROM {table} WHERE {column} LIKE %s"
    params: list[object] = [f"{run}-%"]
    if width is not None:
        sql += " AND width = %s::interval"
        params.append(width)
    with psycopg.connect(dsn) as conn:
        ids = [row[0] for row in conn.execute(sql, params)]
    return {i.removeprefix(f"{run}-").removesuffix("-mw") for i in ids}


def _everything(dsn: str) -> dict[str, int]:
    """Row counts of every table the sink writes, and of the offsets."""
    tables = (*retention.RAW_TABLES, *retention.ROLLUP_TABLES, "games", "markets")
    with psycopg.connect(dsn) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (*tables, "consumer_offsets")
        }


class _Warnings(logging.Handler):
    """Keeps the warnings a logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def migrated(stack) -> None:
    migrate(stack.pg_dsn)


async def test_old_rows_go_and_newer_rows_stay_per_table(stack, migrated) -> None:
    run, group = run_id("rt"), run_id("rt-group-")
    await _store(
        stack.pg_dsn, group, [e for age, at in AGES.items() for e in _events(run, age, at)]
    )
    everyone = set(AGES)
    assert _ages(stack.pg_dsn, run, "odds_ticks") == everyone  # the set-up did store them all

    removed = await retention.apply(stack.pg_dsn, retention.cutoffs(NOW, RAW, ROLLUPS))

    # Raw rows: whatever is older than the raw retention goes, from every raw table.
    for table in retention.RAW_TABLES:
        assert _ages(stack.pg_dsn, run, table) == {"raw_new", "fresh"}, table
    # Rollups outlive the raw rows; only buckets that ended before the rollup cut-off go.
    kept_1m = {"old", "raw_old", "raw_new", "fresh"}
    for table in retention.ROLLUP_TABLES:
        assert _ages(stack.pg_dsn, run, table, "1 minute") == kept_1m, table
        assert _ages(stack.pg_dsn, run, table, "5 minutes") == kept_1m | {"rollup_edge"}, table
    # State rows and offsets are not retention's business.
    assert _ages(stack.pg_dsn, run, "games") == everyone
    assert _ages(stack.pg_dsn, run, "markets") == everyone
    with psycopg.connect(stack.pg_dsn) as conn:
        offsets = conn.execute(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = %s",
            (group,),
        ).fetchall()
    assert offsets == [("odds", 0, 3 * len(AGES))]
    # What went: one chunk per old hour (odds ticks) or day (game events, bets); rollup rows.
    old_ages = len(AGES) - 2
    assert removed == {
        "odds_ticks": old_ages,
        "game_events": old_ages,
        "bets": old_ages,
        "candles": 3,  # ancient 1m and 5m, rollup_edge 1m
        "bet_volume": 3,
    }


async def test_nothing_to_delete_changes_nothing(stack, migrated) -> None:
    run, group = run_id("rn"), run_id("rn-group-")
    await _store(stack.pg_dsn, group, _events(run, "fresh", AGES["fresh"]))
    before = _everything(stack.pg_dsn)
    # Cut-offs before anything stored (no test writes before 1999), then the same run again.
    early = retention.cutoffs(datetime(1999, 1, 1, tzinfo=UTC), RAW, ROLLUPS)
    for _ in range(2):
        removed = await retention.apply(stack.pg_dsn, early)
        assert removed == dict.fromkeys((*retention.RAW_TABLES, *retention.ROLLUP_TABLES), 0)
        assert _everything(stack.pg_dsn) == before
    assert _ages(stack.pg_dsn, run, "odds_ticks") == {"fresh"}


async def test_applied_at_once_and_again_after_the_database_comes_back(stack, migrated) -> None:
    """The sink's loop: a failed run is logged, the loop goes on and a later run succeeds."""
    run, group = run_id("rf"), run_id("rf-group-")
    cut = datetime(1999, 6, 1, tzinfo=UTC)
    await _store(
        stack.pg_dsn,
        group,
        [
            *_events(run, "old", datetime(1999, 1, 1, tzinfo=UTC)),
            *_events(run, "new", datetime(1999, 12, 1, tzinfo=UTC)),
        ],
    )
    proxy = Proxy(stack.settings.pg_port)  # not listening yet: the database is unreachable
    failures = _Warnings()
    log = logging.getLogger("test.retention.loop")
    log.addHandler(failures)
    # The loop takes retentions, not cut-offs: these put both cut-offs at ``cut``.
    keep = datetime.now(UTC) - cut
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/{stack.settings.database}"
    task = asyncio.create_task(retention.run_forever(dsn, keep, keep, 0.1, log))
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(failures.records) < 2:
            assert asyncio.get_running_loop().time() < deadline, "no retried failure"
            await asyncio.sleep(0.05)
        assert _ages(stack.pg_dsn, run, "odds_ticks") == {"old", "new"}
        assert not task.done()  # a failure does not end the loop
        proxy.up()
        await asyncio.to_thread(
            wait_until,
            lambda: _ages(stack.pg_dsn, run, "odds_ticks") == {"new"},
            30,
            "retention after the database came back",
        )
        assert _ages(stack.pg_dsn, run, "candles", "1 minute") == {"new"}
        assert not task.done()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        log.removeHandler(failures)
        proxy.close()


def test_a_retention_of_zero_or_less_is_refused() -> None:
    for value in ("0d", "-P1D"):
        with pytest.raises(pydantic.ValidationError):
            SinkSettings(sink_raw_retention=value)
        with pytest.raises(pydantic.ValidationError):
            SinkSettings(sink_rollup_retention=value)
