"""``python -m producer`` against the real broker: what lands in Kafka, and how runs end."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer

from inplay_events import TOPICS, Event, decode, to_dict, topic_for
from stack import broker
from tests.producer.runs import finish, run_id, run_producer, start_producer

START_MS = 1_700_000_000_000


async def read_back(
    bootstrap: str, prefix: str, expected: int, timeout: float = 60
) -> list[tuple[str, int, bytes, Event]]:
    """Every (topic, partition, key, event) whose game id starts with ``prefix``.

    Reads from the beginning until ``expected`` of them were seen: topics are shared, so
    the count is the stop condition.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = await broker.partitions(bootstrap, TOPICS)
        assert parts, "topics missing"
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        found: list[tuple[str, int, bytes, Event]] = []
        key_prefix = prefix.encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # After the expected count, one more short poll would show any duplicate.
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for r in records:
                    # Other tests share the topics, some with deliberately malformed values:
                    # pick this run's records by key (= game id) before decoding. A record of
                    # this run under a wrong key goes missing, and the count catches that.
                    if r.key is None or not r.key.startswith(key_prefix):
                        continue
                    event = decode(r.value)
                    if getattr(event, "game_id", "").startswith(prefix):
                        found.append((tp.topic, tp.partition, r.key, event))
            if len(found) >= expected and not batches:
                break
        return found
    finally:
        await consumer.stop()


def comparable(event: Event) -> dict:
    d = to_dict(event)
    del d["id"]
    return d


def check_sequences(found: list[tuple[str, int, bytes, Event]]) -> None:
    """Per game: seqs are 1..n with no gap or repeat, increasing within each partition."""
    by_game: dict[str, list[int]] = defaultdict(list)
    last: dict[tuple[str, int, str], int] = {}
    for topic, partition, _key, event in found:
        by_game[event.game_id].append(event.seq)
        where = (topic, partition, event.game_id)
        assert event.seq > last.get(where, 0), f"seq went back in {where}"
        last[where] = event.seq
    for seqs in by_game.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))


async def test_same_seed_gives_the_same_events(stack):
    rid = run_id("same")
    knobs = dict(sim_pace="false", sim_limit=3000, sim_start_ms=START_MS, sim_run_id=rid)
    first = await run_producer(stack.kafka_bootstrap, sim_seed=11, **knobs)
    second = await run_producer(stack.kafka_bootstrap, sim_seed=11, **knobs)
    assert first["total_sent"] == second["total_sent"] == 3000
    found = await read_back(stack.kafka_bootstrap, rid + "-", 6000)
    assert len(found) == 6000
    # Same run id: the two runs differ only in the per-process nonce of event ids.
    runs: dict[str, list[Event]] = defaultdict(list)
    for _t, _p, _k, event in found:
        runs[event.id.rsplit("-", 1)[0]].append(event)
    assert len(runs) == 2
    a, b = runs.values()
    assert {e.id for e in a}.isdisjoint(e.id for e in b)

    def ordered(events: list[Event]) -> list[dict]:
        return [comparable(e) for e in sorted(events, key=lambda e: (e.game_id, e.seq))]

    assert ordered(a) == ordered(b)
    other = await run_producer(
        stack.kafka_bootstrap, sim_seed=12, **{**knobs, "sim_run_id": rid + "x", "sim_limit": 300}
    )
    assert other["total_sent"] == 300
    c = [e for *_, e in await read_back(stack.kafka_bootstrap, rid + "x-", 300)]
    assert ordered(c) != ordered(a)[:300]


async def test_ten_thousand_events_land_on_their_topics_keyed_by_game(stack):
    rid = run_id("tenk")
    summary = await run_producer(
        stack.kafka_bootstrap, sim_pace="false", sim_limit=10_000, sim_run_id=rid, sim_seed=3
    )
    assert summary["total_sent"] == summary["delivered"] == 10_000
    assert summary["failed"] == 0
    found = await read_back(stack.kafka_bootstrap, rid + "-", 10_000)
    assert len(found) == 10_000
    assert len({e.id for *_, e in found}) == 10_000
    for topic, _partition, key, event in found:
        assert key == event.game_id.encode()
        assert topic == topic_for(event.type)
    check_sequences(found)
    per_topic = defaultdict(int)
    for topic, *_ in found:
        per_topic[topic] += 1
    assert dict(per_topic) == summary["per_topic"]


async def test_record_then_replay_produces_the_recorded_events(stack, tmp_path):
    rid = run_id("rec")
    recording = tmp_path / "run.jsonl"
    await run_producer(
        stack.kafka_bootstrap,
        "--record",
        str(recording),
        sim_pace="false",
        sim_limit=1500,
        sim_run_id=rid,
        sim_seed=5,
    )
    lines = recording.read_bytes().splitlines()
    assert len(lines) == 1500
    # A damaged copy: one line cut short, one not JSON; both are skipped and counted.
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_bytes(b"\n".join([*lines[:10], lines[10][:20], b"oops", *lines[11:]]) + b"\n")
    logs = await finish(
        await start_producer(
            stack.kafka_bootstrap, "--replay", str(damaged), "--no-pace", sim_run_id="ignored"
        )
    )
    summary = next(r for r in logs if r["message"] == "summary")
    assert summary["total_sent"] == 1499 and summary["bad_lines"] == 2
    skipped = [r for r in logs if r["message"] == "skipped bad line"]
    assert [r["line"] for r in skipped] == [11, 12]
    found = await read_back(stack.kafka_bootstrap, rid + "-", 1500 + 1499)
    values = defaultdict(int)
    for *_, event in found:
        values[orjson.dumps(to_dict(event))] += 1
    recorded = [orjson.dumps(to_dict(decode(line))) for line in lines]
    # Every recorded event came back twice (run + replay), except the damaged line 11.
    assert [values[v] for v in recorded] == [2] * 10 + [1] + [2] * 1489


async def test_paced_run_follows_wall_time_and_stops_on_sigterm(stack):
    rid = run_id("paced")
    proc = await start_producer(
        stack.kafka_bootstrap, sim_run_id=rid, sim_seed=8, sim_events_per_sec=100
    )
    await asyncio.sleep(3.0)
    proc.send_signal(signal.SIGTERM)
    logs = await finish(proc, timeout=30)
    summary = next(r for r in logs if r["message"] == "summary")
    assert summary["reason"] == "signal"
    # About 100 events/s for the ~3 s it ran (start-up takes part of that).
    assert 100 <= summary["total_sent"] <= 400
    found = await read_back(stack.kafka_bootstrap, rid + "-", summary["total_sent"])
    assert len(found) == summary["total_sent"] == summary["delivered"]
    check_sequences(found)


async def test_duration_stops_a_paced_run(stack):
    rid = run_id("dur")
    loop = asyncio.get_running_loop()
    started = loop.time()
    summary = await run_producer(
        stack.kafka_bootstrap, sim_run_id=rid, sim_seed=8, sim_duration_s=2, sim_events_per_sec=50
    )
    assert summary["reason"] == "limit"
    assert 2.0 <= loop.time() - started < 15
    assert 80 <= summary["total_sent"] <= 110
