"""The sink's ops port against the real Kafka and PostgreSQL: health, readiness, counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.migrate import migrate
from tests.broadcaster.helpers import free_port
from tests.inplay_events.ops_client import get_json, metrics, wait_for, wait_listening
from tests.storage.helpers import end_offsets, produce_raw, produce_sim, run_id, seed_offsets, sink

EVENTS = 300


@pytest.fixture
def migrated(stack) -> None:
    migrate(stack.pg_dsn)


async def ready(port: int) -> dict | None:
    status, body = await get_json(port, "/ready")
    return body if status == 200 else None


async def test_ready_and_counters_match_what_was_fed(stack, migrated, tmp_path: Path):
    run, group = run_id("ops"), run_id("ops-group-")
    # From where the topics end now: the counters then see this test's records only.
    seed_offsets(stack.pg_dsn, group, await end_offsets(stack))
    port = free_port()
    s = sink(stack, tmp_path, group, SINK_OPS_PORT=str(port))
    s.start()
    try:
        await wait_listening(port)
        assert await get_json(port, "/health") == (200, {"status": "ok"})
        body = await wait_for(lambda: ready(port), "ready")
        assert body == {"status": "ready", "checks": {"kafka": "ok", "lag": "ok", "postgres": "ok"}}

        produce_sim(stack, run, EVENTS)
        await produce_raw(stack, [("odds", f"{run}-bad".encode(), b"not json")])

        async def written() -> dict[str, float] | None:
            got = await metrics(port)
            done = got["inplay_sink_events_total"] >= EVENTS and got["inplay_sink_records_total"]
            return got if done and got["inplay_sink_dead_letters_total"] >= 1 else None

        got = await wait_for(written, f"{EVENTS} events and the dead letter written")
        assert got["inplay_sink_events_total"] == EVENTS
        assert got["inplay_sink_records_total"] == EVENTS + 1
        assert got["inplay_sink_dead_letters_total"] == 1
        assert got["inplay_sink_batches_total"] >= 1
        assert got["inplay_sink_lag_records"] == 0
        assert await ready(port) is not None
    finally:
        assert s.stop() == 0
    final = s.messages("sink stopped")[-1]["counters"]
    assert (final["events"], final["dead_letters"]) == (EVENTS, 1)
    assert [m["url"] for m in s.messages("ops port listening")] == [f"http://127.0.0.1:{port}"]


async def test_not_ready_naming_postgres_when_the_database_is_gone(stack, tmp_path: Path):
    port, nothing = free_port(), free_port()
    group = run_id("ops-nodb-")
    s = sink(
        stack,
        tmp_path,
        group,
        SINK_OPS_PORT=str(port),
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{nothing}/inplay",
    )
    s.start()
    try:
        await wait_listening(port)
        assert await get_json(port, "/health") == (200, {"status": "ok"})
        status, body = await get_json(port, "/ready")
        assert status == 503
        assert "postgres" in body["failed"]
        assert "Connection refused" in body["checks"]["postgres"]
    finally:
        # SIGTERM does not end a sink whose partition assignment waits on the database (its
        # offsets load retries until the database answers), so this one is killed.
        s.kill9()
