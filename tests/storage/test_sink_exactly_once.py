"""Exactly once: the sink killed with SIGKILL at random moments, restarted, and every row,
candle and bet volume equal to a recomputation from the events read back from Kafka."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from inplay_events import encode, topic_for
from producer.simulator import SimConfig, Simulator
from storage.migrate import migrate
from tests.storage.helpers import (
    TOPICS,
    Sink,
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

KILLS = 5


def _committed(dsn: str, group: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = %s",
            (group,),
        ).fetchone()
    return row[0]


def _kill_repeatedly(s: Sink, dsn: str, group: str, rng: random.Random) -> None:
    """Start, and each time the sink has committed something new, kill it a moment later."""
    for _ in range(KILLS):
        before = _committed(dsn, group)
        s.start()
        wait_until(
            lambda b=before: _committed(dsn, group) > b, 60, "the sink to commit a batch", 0.02
        )
        # Somewhere inside the next few transactions: mid-COPY, mid-upsert or mid-commit.
        time.sleep(rng.uniform(0.0, 0.25))
        # Killed while running, not found already dead.
        assert s.kill9() == -signal.SIGKILL
    s.start()


def _finish(s: Sink, dsn: str, group: str, ends: dict[tuple[str, int], int]) -> None:
    # Every partition committed to its end: odds ticks alone could be in while bets still lag.
    wait_until(lambda: caught_up(dsn, group, ends), 90, "the sink to catch up", 0.2)
    time.sleep(1.5)  # anything written twice would show up now
    assert s.stop() == 0
    assert "Traceback" not in s.log_path.read_text()


@pytest.fixture
def migrated(stack) -> None:
    migrate(stack.pg_dsn)


async def test_kill9_many_times_then_rows_equal_recomputation(stack, migrated, tmp_path: Path):
    run, group = run_id("eo"), run_id("eo-group-")
    produce_sim(stack, run, 50_000)
    events = events_of(await read_all(stack, TOPICS, keyed(run)))
    assert len(events) == 50_000
    expected = recompute(events)
    ends = await end_offsets(stack)
    s = sink(stack, tmp_path, group, SINK_MAX_BATCH="1000")
    _kill_repeatedly(s, stack.pg_dsn, group, random.Random(run))
    _finish(s, stack.pg_dsn, group, ends)
    assert_matches(stored(stack.pg_dsn, run), expected)


def _shuffled_recording(path: Path, run: str, n: int, rng: random.Random) -> list[bytes]:
    """``n`` simulated events, each game's events shuffled among that game's positions."""
    sim = Simulator(SimConfig(seed=11, run_id=run, start_ms=int(time.time() * 1000) - 3_600_000))
    events = []
    for event in sim:
        events.append(event)
        if len(events) == n:
            break
    slots: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        slots.setdefault(e.game_id, []).append(i)
    out: list[bytes] = [b""] * len(events)
    for positions in slots.values():
        mine = [encode(events[i]) for i in positions]
        rng.shuffle(mine)
        for i, raw in zip(positions, mine, strict=True):
            out[i] = raw
    path.write_bytes(b"\n".join(out) + b"\n")
    return out


async def test_duplicates_and_shuffled_events_exactly_once(stack, migrated, tmp_path: Path):
    run, group = run_id("sh"), run_id("sh-group-")
    rng = random.Random(run)
    # Start where the logs end now: the earlier tests' events are not this test's business.
    seed_offsets(stack.pg_dsn, group, await end_offsets(stack))
    recording = tmp_path / "shuffled.jsonl"
    raws = _shuffled_recording(recording, run, 20_000, rng)
    produce_sim(stack, run, 20_000, SIM_REPLAY=str(recording))
    # Duplicates: 3,000 of the events again, verbatim, in a different order.
    again = rng.sample(raws, 3_000)
    await produce_raw(
        stack,
        (
            (topic_for(orjson.loads(v)["type"]), orjson.loads(v)["game_id"].encode(), v)
            for v in again
        ),
    )
    events = events_of(await read_all(stack, TOPICS, keyed(run)))
    assert len(events) == 23_000
    expected = recompute(events)
    ends = await end_offsets(stack)
    s = sink(stack, tmp_path, group, SINK_MAX_BATCH="500")
    _kill_repeatedly(s, stack.pg_dsn, group, rng)
    _finish(s, stack.pg_dsn, group, ends)
    got = stored(stack.pg_dsn, run)
    assert_matches(got, expected)
    # The input really was out of order within games (else this would prove little).
    last_seq: dict[str, int] = {}
    backwards = 0
    for e in events_of_recording(raws):
        backwards += e["seq"] < last_seq.get(e["game_id"], 0)
        last_seq[e["game_id"]] = max(e["seq"], last_seq.get(e["game_id"], 0))
    assert backwards > 1000


def events_of_recording(raws: list[bytes]) -> list[dict]:
    return [orjson.loads(raw) for raw in raws]
