"""The sink's edges against the real services: dead letters, a stored offset outside the
log, and a database outage in the middle of a run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from inplay_events import DEAD_LETTER_TOPIC, log_position
from storage.migrate import migrate
from tests.storage.helpers import (
    TOPICS,
    Proxy,
    assert_matches,
    caught_up,
    end_offsets,
    events_of,
    keyed,
    produce_raw,
    produce_sim,
    read_all,
    recompute,
    run_id,
    seed_offsets,
    sink,
    stored,
    wait_until,
)


@pytest.fixture
def migrated(stack) -> None:
    migrate(stack.pg_dsn)


def _ticks(dsn: str, run: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT count(*) FROM odds_ticks WHERE game_id LIKE %s", (f"{run}-%",)
        ).fetchone()[0]


async def _run_events(stack, run: str) -> list[dict]:
    return events_of(await read_all(stack, TOPICS, keyed(run)))


def _odds(run: str, n: int, ts: int, price: float = 2.0) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "id": f"{run}-e{n}",
            "type": "odds",
            "game_id": f"{run}-g1",
            "ts": ts,
            "seq": n,
            "market_id": f"{run}-g1-mw",
            "kind": "match_winner",
            "status": "open",
            "prices": {"home": price, "away": 3.5},
        }
    )


async def test_malformed_events_are_dead_lettered_and_the_sink_goes_on(
    stack, migrated, tmp_path: Path
):
    run, group = run_id("dl"), run_id("dl-group-")
    ends = await end_offsets(stack)
    seed_offsets(stack.pg_dsn, group, ends)
    key = f"{run}-g1".encode()
    bad = {
        b"not json " + run.encode(): "not JSON",
        orjson.dumps({"v": 2, "id": f"{run}-v2", "type": "odds"}): "unknown version",
        orjson.dumps({"v": 1, "id": f"{run}-t", "type": "nope", "game_id": run}): "unknown type",
        _odds(run, 90, 1_700_000_000_000, price=1.0): "greater than 1.0",
        _odds(run, 91, 1_700_000_000_000).replace(b'"open"', b'"op\\u0000en"'): "NUL",
        _odds(run, 92, 10**17): "past year 9999",
    }
    # Recent: the sink applies its retention (7 days) at start-up, concurrently with the batches.
    now_ms = int(time.time() * 1000)
    good = [_odds(run, 1, now_ms - 1_000), _odds(run, 2, now_ms)]
    alive = orjson.dumps({"v": 1, "id": f"{run}-alive", "type": "alive", "producer": "p", "ts": 1})
    records = [("odds", key, good[0]), *[("odds", key, v) for v in bad], ("odds", key, alive)]
    records.append(("odds", key, good[1]))
    await produce_raw(stack, records)

    s = sink(stack, tmp_path, group)
    s.start()
    try:
        wait_until(lambda: _ticks(stack.pg_dsn, run) == 4, 60, "the valid events to be stored")
        # Other consumers (the fan-out's ingest) may reject the same records: keep the sink's.
        letters = [
            r
            for r in await read_all(stack, [DEAD_LETTER_TOPIC], lambda r: run.encode() in r.value)
            if orjson.loads(r.value)["consumer"] == "storage-sink"
        ]
        by_value = {orjson.loads(r.value)["value"].encode(): orjson.loads(r.value) for r in letters}
        for raw, reason in bad.items():
            letter = by_value[raw.decode("utf-8", "backslashreplace").encode()]
            assert reason in letter["error"]["reason"], letter
            assert letter["error"]["code"] == "invalid_event"
            # One of the records produced here: at or past where the log ended before.
            assert letter["topic"] == "odds"
            assert letter["offset"] >= ends[("odds", letter["partition"])]
        assert len({(r["partition"], r["offset"]) for r in by_value.values()}) == len(bad)
        assert len(letters) == len(bad)
        assert s.alive()
    finally:
        assert s.stop() == 0
    final = s.messages("sink stopped")[-1]["counters"]
    assert final["dead_letters"] == len(bad)
    assert final["alive_skipped"] == 1


async def test_stored_offset_past_the_log_end_rereads_from_the_start(
    stack, migrated, tmp_path: Path
):
    """The rule (a user wiped Kafka's data and kept the database): Kafka answers the fetch
    out of range; the sink warns, stores the log start and reads the partition from there."""
    run, group = run_id("pe"), run_id("pe-group-")
    ends = await end_offsets(stack)
    past = {tp: n + 1_000_000 for tp, n in ends.items() if tp[0] == "odds"}
    seed_offsets(stack.pg_dsn, group, {**ends, **past})
    produce_sim(stack, run, 400)
    expected = recompute(await _run_events(stack, run))
    produced_to = await end_offsets(stack)

    s = sink(stack, tmp_path, group)
    s.start()
    try:
        # The odds re-read (their stored offsets, a million past the end, satisfy caught_up
        # before the rewind), and every partition read to its end (games and bets too).
        wait_until(
            lambda: (
                _ticks(stack.pg_dsn, run) >= expected.ticks
                and caught_up(stack.pg_dsn, group, produced_to)
            ),
            60,
            "the logs re-read",
        )
    finally:
        assert s.stop() == 0
    assert_matches(stored(stack.pg_dsn, run), expected)
    warned = {line["partition"] for line in s.messages(log_position.WARNING)}
    assert warned == {f"odds-{p}" for _, p in past}
    with psycopg.connect(stack.pg_dsn) as conn:
        now = dict(
            conn.execute(
                "SELECT partition, next_offset FROM consumer_offsets"
                " WHERE consumer_group = %s AND topic = 'odds'",
                (group,),
            ).fetchall()
        )
    # Moved back from a million past the end to the log start, then read to the end.
    assert {p: now[p] for _, p in past} == {p: produced_to[("odds", p)] for _, p in past}


async def test_database_outage_mid_run_resumes_without_loss(stack, migrated, tmp_path: Path):
    run, group = run_id("db"), run_id("db-group-")
    seed_offsets(stack.pg_dsn, group, await end_offsets(stack))
    proxy = Proxy(stack.settings.pg_port)
    proxy.up()
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/{stack.settings.database}"
    produce_sim(stack, run, 3000)
    s = sink(stack, tmp_path, group, DATABASE_URL=dsn, SINK_MAX_BATCH="200")
    s.start()
    try:
        wait_until(lambda: _ticks(stack.pg_dsn, run) > 0, 60, "the first batches")
        proxy.down()  # every connection cut mid-whatever, and no new ones for a while
        produce_sim(stack, f"{run}b", 3000)
        await asyncio.sleep(3)
        assert s.alive()
        proxy.up()
        expected = recompute(await _run_events(stack, run))
        expected_b = recompute(await _run_events(stack, f"{run}b"))
        # Every partition committed to its end: odds ticks alone can be in while bets lag.
        ends = await end_offsets(stack)
        wait_until(lambda: caught_up(stack.pg_dsn, group, ends), 60, "recovery")
        # The same process rode the outage out (it was not restarted: the test starts it once).
        assert s.alive()
    finally:
        assert s.stop() == 0
        proxy.close()
    assert_matches(stored(stack.pg_dsn, run), expected)
    assert_matches(stored(stack.pg_dsn, f"{run}b"), expected_b)
    assert s.messages("sink stopped")[-1]["counters"]["db_retries"] > 0
