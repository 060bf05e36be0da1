"""Ingest's ops port against the real Kafka and Redis: health, readiness, counts as fed."""

from __future__ import annotations

import uuid

from aiokafka import TopicPartition

from broadcaster.ingest.ops import records_behind
from tests.broadcaster.helpers import free_port
from tests.inplay_events.ops_client import get_json, wait_listening

APPLIED = "inplay_ingest_events_applied_total"
DUPLICATE = "inplay_ingest_events_duplicate_total"
STALE = "inplay_ingest_events_stale_total"
INVALID = "inplay_ingest_events_invalid_total"


async def ready(port: int) -> dict | None:
    status, body = await get_json(port, "/ready")
    return body if status == 200 else None


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
