"""The sink's edges against the real services: dead letters, a stored offset outside the
log, and a database outage in the middle of a run."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

import orjson
import psycopg
import pytest

from inplay_events import DEAD_LETTER_TOPIC, log_position
from storage.migrate import migrate
from tests.storage.helpers import (
    TOPICS,
    assert_matches,
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
    seed_offsets(stack.pg_dsn, group, await end_offsets(stack))
    key = f"{run}-g1".encode()
    bad = {
        b"not json " + run.encode(): "not JSON",
        orjson.dumps({"v": 2, "id": f"{run}-v2", "type": "odds"}): "unknown version",
        orjson.dumps({"v": 1, "id": f"{run}-t", "type": "nope", "game_id": run}): "unknown type",
        _odds(run, 90, 1_700_000_000_000, price=1.0): "greater than 1.0",
        _odds(run, 91, 1_700_000_000_000).replace(b'"open"', b'"op\\u0000en"'): "NUL",
        _odds(run, 92, 10**17): "past year 9999",
    }
    good = [_odds(run, 1, 1_700_000_000_000), _odds(run, 2, 1_700_000_001_000)]
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
            assert letter["topic"] == "odds" and letter["offset"] >= 0
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

    s = sink(stack, tmp_path, group)
    s.start()
    try:
        wait_until(lambda: _ticks(stack.pg_dsn, run) >= expected.ticks, 60, "odds re-read")
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
    assert all(now[p] <= ends[("odds", p)] + 1000 for _, p in past)


class _Proxy:
    """A TCP proxy to PostgreSQL that can cut every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    def up(self) -> None:
        self._call(self._start())

    def down(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)


async def test_database_outage_mid_run_resumes_without_loss(stack, migrated, tmp_path: Path):
    run, group = run_id("db"), run_id("db-group-")
    seed_offsets(stack.pg_dsn, group, await end_offsets(stack))
    proxy = _Proxy(stack.settings.pg_port)
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
        wait_until(lambda: _ticks(stack.pg_dsn, f"{run}b") >= expected_b.ticks, 60, "recovery")
    finally:
        assert s.stop() == 0
        proxy.close()
    assert_matches(stored(stack.pg_dsn, run), expected)
    assert_matches(stored(stack.pg_dsn, f"{run}b"), expected_b)
    assert s.messages("database unavailable, retrying")
    assert s.starts == 1
