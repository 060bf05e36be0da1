"""Ingest edge cases against real Kafka and Redis: dedupe, stale, dead letters, offsets."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from broadcaster import keys
from inplay_events import DEAD_LETTER_TOPIC, TOPICS, log_position
from stack import broker
from tests.broadcaster.helpers import by_channel, produce, run_id, simulate


async def _seq(r: aioredis.Redis, channel: str) -> int:
    return int(await r.hget(keys.meta(channel), "seq") or 0)


async def _wait_seq(r: aioredis.Redis, channel: str, want: int, timeout: float = 20) -> None:
    for _ in range(int(timeout * 20)):
        if await _seq(r, channel) >= want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{channel} stuck at seq {await _seq(r, channel)}, wanted {want}")


async def test_duplicates_and_stale_events_are_dropped(stack, ingest):
    r = aioredis.from_url(stack.redis_url)
    rid = run_id("dup")
    events = simulate(300, rid, games=1)
    ch = f"game:{events[0].game_id}"
    n = len(by_channel(events)[ch])
    await produce(stack.kafka_bootstrap, events)
    await _wait_seq(r, ch, n)
    # The same events again (same ids), and copies with new ids but old game seqs.
    stale = [e.model_copy(update={"id": e.id + "-again"}) for e in events[:50]]
    await produce(stack.kafka_bootstrap, events[:100] + stale)
    marker = simulate(1, rid + "m", games=1)  # a fresh game after them on the same topics
    await produce(stack.kafka_bootstrap, marker)
    await _wait_seq(r, f"game:{marker[0].game_id}", 1)
    await asyncio.sleep(0.3)
    assert await _seq(r, ch) == n
    assert await r.xlen(keys.history(ch)) == min(n, 200) or await r.xlen(keys.history(ch)) >= 200
    await r.aclose()


async def test_malformed_events_go_to_the_dead_letter_topic(stack, ingest):
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    bad_price = {
        "v": 1,
        "id": f"bad-{marker}",
        "game_id": f"g-{marker}",
        "ts": 1,
        "seq": 1,
        "type": "odds",
        "market_id": "m",
        "kind": "match_winner",
        "status": "open",
        "prices": {"home": 0.5},
    }
    await producer.send_and_wait("odds", orjson.dumps(bad_price), key=b"k")
    await producer.send_and_wait("games", f"not json {marker}".encode(), key=b"k")
    await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await broker.partitions(stack.kafka_bootstrap, [DEAD_LETTER_TOPIC])
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found: list[dict] = []
        for _ in range(60):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found += [orjson.loads(x.value) for x in records if marker.encode() in x.value]
            if len(found) >= 2:
                break
    finally:
        await consumer.stop()
    by_topic = {d["topic"]: d for d in found if d["consumer"] == "broadcaster-ingest"}
    assert by_topic["odds"]["error"]["field"] == "prices.home"
    assert "greater than 1.0" in by_topic["odds"]["reason"]
    assert by_topic["games"]["reason"].startswith("not JSON")
    assert marker in by_topic["games"]["value"]


async def test_committed_offset_past_the_log_end_restarts_from_the_beginning(
    stack, start_ingest, ingest
):
    """A group whose committed offsets lie past the log end (the topics were deleted and
    created again, say) still reads new events: Kafka answers OFFSET_OUT_OF_RANGE, ingest
    follows the one rule (from the log start) and commits the new position at once."""
    group = f"fanout-pastend-{uuid.uuid4().hex[:6]}"
    past = 10_000_000
    c = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await c.start()
    parts = await broker.partitions(stack.kafka_bootstrap, TOPICS)
    c.assign(parts)
    await c.commit({tp: OffsetAndMetadata(past, "") for tp in parts})
    await c.stop()
    worker = await start_ingest("ingest-pastend", INGEST_GROUP_ID=group)
    r = aioredis.from_url(stack.redis_url)
    events = simulate(100, run_id("pastend"), games=1)
    ch = f"game:{events[0].game_id}"
    await produce(stack.kafka_bootstrap, events)
    await _wait_seq(r, ch, len(by_channel(events)[ch]), timeout=60)
    for _ in range(100):
        warned = [x for x in worker.logs() if x["message"] == log_position.WARNING]
        if len(warned) >= len(parts):
            break
        await asyncio.sleep(0.1)
    assert {x["partition"] for x in warned} == {f"{tp.topic}-{tp.partition}" for tp in parts}
    assert all(x["position"] == past and x["log_start"] < past for x in warned)
    # The new position is committed: the offset of the old log does not linger.
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        for _ in range(100):
            committed = await admin.list_consumer_group_offsets(group)
            if all(committed[tp].offset < past for tp in parts):
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    assert all(committed[tp].offset < past for tp in parts), committed
    await worker.stop()
    # It read the log again from the beginning: everything, ours included (the session's
    # worker of the other group applied them first, so here they count as duplicates).
    counts = next(x for x in worker.logs() if x["message"] == "stopped")["counts"]
    assert counts["offset_outside_log"] == len(parts)
    assert counts.get("applied", 0) + counts.get("duplicate", 0) >= len(events)
    await r.aclose()


async def test_start_up_logs_mask_the_redis_url(ingest, gateway):
    """REDIS_URL may hold a password: both processes log it masked."""
    for proc, field in ((ingest, "redis_url"), (gateway, "redis_url")):
        logged = next(x for x in proc.logs() if x["message"] == "settings")["settings"]
        assert logged[field] == "**********"


async def test_ingest_leaves_its_lag_in_redis(stack, ingest):
    """Each report window's event-time-to-Redis lag is readable by status displays."""
    rid = run_id("lag")
    await produce(stack.kafka_bootstrap, simulate(50, rid, games=1))
    r = aioredis.from_url(stack.redis_url)
    raw = None
    for _ in range(80):  # reports come every 5 s
        raw = await r.get(keys.INGEST_LAG)
        if raw:
            break
        await asyncio.sleep(0.1)
    await r.aclose()
    assert raw, "no lag reported"
    lag = orjson.loads(raw)
    assert lag["lag_ms_p50"] <= lag["lag_ms_p99"] <= lag["lag_ms_max"]  # may be < 0 unpaced
