"""The producer's ops port against the real broker: health, readiness, counts as fed."""

from __future__ import annotations

import signal
from collections import Counter

import orjson

from inplay_events import encode, to_dict, topic_for
from tests.broadcaster.helpers import free_port, simulate
from tests.inplay_events.ops_client import get_json, metrics, wait_for, wait_listening
from tests.producer.runs import finish, run_id, start_producer


async def test_ops_port_reports_ready_and_what_was_produced(stack, tmp_path):
    rid = run_id("ops")
    events = simulate(40, rid)
    # A last event an hour of event time later: paced, the producer holds it (and stays up)
    # after sending the first 40, so the counts stand still while the test reads them.
    late = {**to_dict(events[-1]), "id": f"{rid}-late", "ts": events[-1].ts + 3_600_000}
    recording = tmp_path / "ops.jsonl"
    lines = [encode(e) for e in events] + [orjson.dumps(late)]
    recording.write_bytes(b"".join(line + b"\n" for line in lines))
    expected = Counter(topic_for(e.type) for e in events)
    port = free_port()
    proc = await start_producer(
        stack.kafka_bootstrap,
        sim_replay=recording,
        sim_pace="true",
        producer_ops_port=port,
        end_abandoned="false",
    )
    try:
        await wait_listening(port)

        async def delivered() -> dict[str, float] | None:
            got = await metrics(port)
            return got if got["inplay_producer_events_delivered_total"] == len(events) else None

        got = await wait_for(delivered, "the 40 events delivered")
        assert await get_json(port, "/health") == (200, {"status": "ok"})
        status, body = await get_json(port, "/ready")
        assert (status, body) == (200, {"status": "ready", "checks": {"kafka": "ok"}})
        produced = {
            topic: got.get(f'inplay_producer_events_produced_total{{topic="{topic}"}}', 0)
            for topic in ("games", "odds", "bets")
        }
        assert produced == {t: expected[t] for t in ("games", "odds", "bets")}
        assert got["inplay_producer_events_failed_total"] == 0
        assert got["inplay_producer_kafka_connected"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
    logs = await finish(proc)
    summary = next(r for r in logs if r["message"] == "summary")
    assert summary["total_sent"] == len(events)
    listening = [r for r in logs if r["message"] == "ops port listening"]
    assert [r["url"] for r in listening] == [f"http://127.0.0.1:{port}"]


async def test_not_ready_until_kafka_answers(stack):
    port, nothing = free_port(), free_port()
    proc = await start_producer(f"127.0.0.1:{nothing}", producer_ops_port=port)
    try:
        await wait_listening(port)
        assert await get_json(port, "/health") == (200, {"status": "ok"})
        status, body = await get_json(port, "/ready")
        assert status == 503
        assert body["failed"] == ["kafka"]
        assert body["checks"] == {"kafka": "not connected to kafka"}
    finally:
        proc.send_signal(signal.SIGTERM)
        await finish(proc)
