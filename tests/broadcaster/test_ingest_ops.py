"""Ingest's ops port against the real Kafka and Redis: health, readiness, counts as fed."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer, TopicPartition

from broadcaster.ingest.ops import records_behind
from tests.broadcaster.helpers import free_port, produce, run_id, simulate
from tests.inplay_events.ops_client import get_json, metrics, wait_for, wait_listening

APPLIED = "inplay_ingest_events_applied_total"
DUPLICATE = "inplay_ingest_events_duplicate_total"
STALE = "inplay_ingest_events_stale_total"
INVALID = "inplay_ingest_events_invalid_total"


async def ready(port: int) -> dict | None:
    status, body = await get_json(port, "/ready")
    return body if status == 200 else None


async def test_ready_once_caught_up_and_counts_what_was_fed(stack, start_ingest):
    port = free_port()
    await start_ingest(
        "ingest-ops", INGEST_GROUP_ID=f"ops-{uuid.uuid4().hex[:8]}", INGEST_OPS_PORT=str(port)
    )
    await wait_listening(port)
    assert await get_json(port, "/health") == (200, {"status": "ok"})
    body = await wait_for(lambda: ready(port), "ready (caught up with the topics)")
    assert body == {"status": "ready", "checks": {"kafka": "ok", "lag": "ok", "redis": "ok"}}

    async def caught_up() -> dict[str, float] | None:
        got = await metrics(port)
        return got if got["inplay_ingest_lag_records"] == 0 else None

    # Ready allows some lag; the counts are compared from a standstill.
    before = await wait_for(caught_up, "every record in the topics applied")
    assert before["inplay_ingest_partitions_assigned"] > 0

    events = simulate(60, run_id("ops"))
    await produce(stack.kafka_bootstrap, events)

    async def applied() -> dict[str, float] | None:
        got = await metrics(port)
        return got if got[APPLIED] >= before[APPLIED] + len(events) else None

    after = await wait_for(applied, "the 60 events applied")
    assert after[APPLIED] == before[APPLIED] + len(events)
    assert (after[DUPLICATE], after[STALE], after[INVALID]) == (
        before[DUPLICATE],
        before[STALE],
        before[INVALID],
    )

    # The same events again are duplicates; a record that is not an event is dead-lettered.
    await produce(stack.kafka_bootstrap, events)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("odds", b"{not json", key=b"ops-invalid")
    finally:
        await producer.stop()

    async def all_seen() -> dict[str, float] | None:
        got = await metrics(port)
        done = got[DUPLICATE] >= after[DUPLICATE] + len(events) and got[INVALID] > after[INVALID]
        return got if done else None

    last = await wait_for(all_seen, "the repeats and the invalid record counted")
    assert last[APPLIED] == after[APPLIED]
    assert last[DUPLICATE] == after[DUPLICATE] + len(events)
    assert last[INVALID] == after[INVALID] + 1
    assert await wait_for(lambda: ready(port), "ready again") is not None


async def test_not_ready_naming_redis_when_redis_is_gone(stack, start_ingest):
    port, nothing = free_port(), free_port()
    await start_ingest(
        "ingest-ops-no-redis",
        INGEST_GROUP_ID=f"ops-{uuid.uuid4().hex[:8]}",
        INGEST_OPS_PORT=str(port),
        REDIS_URL=f"redis://127.0.0.1:{nothing}/0",
    )
    await wait_listening(port)
    assert await get_json(port, "/health") == (200, {"status": "ok"})
    status, body = await get_json(port, "/ready")
    assert status == 503
    assert "redis" in body["failed"]
    assert body["checks"]["redis"].startswith("ConnectionError")


def test_records_behind_is_unknown_until_every_partition_was_fetched():
    a, b = TopicPartition("odds", 0), TopicPartition("odds", 1)
    assert records_behind({a: 10, b: None}, {a: 4}) is None
    assert records_behind({a: 10, b: 7}, {a: 4}) == 6  # b: fetched, nothing there to apply
    assert records_behind({a: 10, b: 7}, {a: 12, b: 3}) == 4
