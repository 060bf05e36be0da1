"""The local stack's data as make up keeps it: Kafka killed mid-feed, a restart, make reset."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaProducer

from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack.settings import ROOT
from tests.kafka_reads import read_topics
from tests.stack.up import PORTS, records


def _stack_data(name: str) -> Path:
    """A data folder of its own for one test, emptied first (Kafka and Redis keep data)."""
    data = ROOT / ".local" / name
    subprocess.run(
        [sys.executable, "-m", "stack", "reset"],
        cwd=ROOT,
        env={**os.environ, "INPLAY_DATA_DIR": str(data)},
        check=True,
        capture_output=True,
    )
    return data


def _wait_counted(logs: Path, events: int) -> None:
    """Until ingest has applied and the sink stored ``events`` (both report every 5 s)."""

    def applied() -> int:
        reports = records(logs / "ingest.log", "ingest")
        return reports[-1]["counts"].get("applied", 0) if reports else 0

    def stored() -> int:
        reports = records(logs / "sink.log", "throughput")
        return reports[-1]["events"] if reports else 0

    deadline = time.monotonic() + 90
    while (applied(), stored()) != (events, events) and time.monotonic() < deadline:
        time.sleep(1)


def _topic_records(bootstrap: str, topics: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """Every record the topics hold, read from the log start: (topic, value)."""
    return [(r.topic, r.value or b"") for r in asyncio.run(read_topics(bootstrap, topics))]


def _kafka_pid(data: Path) -> int:
    return int((data / "run" / "kafka.pid").read_text().split()[0])


def test_kill_9_of_kafka_under_make_up_loses_nothing(start_up) -> None:
    """Kafka is killed with SIGKILL mid-feed: make up starts it again, the producer, ingest
    and the sink reconnect by themselves, and every event is in the topics, applied and
    stored exactly once (the records were on disk)."""
    events = 6000
    data = _stack_data("test-up-kill")
    up = start_up(INPLAY_DATA_DIR=str(data), SIM_LIMIT=str(events))
    up.wait_for(r"Ctrl-C stops everything", timeout=120)
    up.wait_for(r"feed .*\(total [1-9][\d,]*\)", timeout=30)
    os.kill(_kafka_pid(data), signal.SIGKILL)
    up.wait_for(r"kafka exited \(by SIGKILL\): starting it again", timeout=15)
    up.wait_for(r"Kafka and topics .*: ready in", timeout=60)
    up.wait_for(r"producer exited \(code 0\)", timeout=120)
    logs = data / "logs"
    summary = records(logs / "producer.log", "summary")[-1]
    assert summary["failed"] == 0 and summary["delivered"] == events, summary
    _wait_counted(logs, events)
    bootstrap = f"127.0.0.1:{PORTS['INPLAY_KAFKA_PORT']}"
    # The idempotent producer's retries wrote nothing twice.
    assert len(_topic_records(bootstrap, TOPICS)) == events
    up.proc.send_signal(signal.SIGINT)
    assert up.finish() == 0, "".join(up.lines)
    counts = records(logs / "ingest.log", "stopped")[-1]["counts"]
    # Ingest may re-read what it had not committed when the broker died; dedupe drops it.
    assert counts.get("applied") == events, counts
    sink = records(logs / "sink.log", "sink stopped")[-1]["counters"]
    assert sink["events"] == events and sink["duplicates"] == 0, sink


def _redis_epoch(channel: str) -> str | None:
    client = redis.Redis(port=PORTS["INPLAY_REDIS_PORT"])
    try:
        raw = client.hget(f"fo:m:{channel}", "epoch")
        return raw.decode() if raw else None
    finally:
        client.close()


def test_data_survives_a_restart_and_dead_letters_add_up(start_up) -> None:
    """A second make up finds the first one's records, offsets, channels and rows: nothing is
    re-stored or lost. N invalid records give N dead letters from each consumer, and the
    status line counts what the dead-letter topic holds. make reset wipes it all."""
    events, invalid = 2000, 7
    data = _stack_data("test-up-restart")
    bootstrap = f"127.0.0.1:{PORTS['INPLAY_KAFKA_PORT']}"
    up = start_up(INPLAY_DATA_DIR=str(data), SIM_LIMIT=str(events))
    up.wait_for(r"Ctrl-C stops everything", timeout=120)
    up.wait_for(r"producer exited \(code 0\)", timeout=120)

    async def produce_invalid() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for n in range(invalid):
                await producer.send_and_wait("odds", b'{"not": "an event %d"}' % n, key=b"x")
        finally:
            await producer.stop()

    asyncio.run(produce_invalid())
    _wait_counted(data / "logs", events)
    letters = [orjson.loads(v) for _, v in _topic_records(bootstrap, (DEAD_LETTER_TOPIC,))]
    by_consumer = Counter(letter["consumer"] for letter in letters)
    assert by_consumer == {"broadcaster-ingest": invalid, "storage-sink": invalid}, by_consumer
    status = up.wait_for(r"feed .*dead-letters ([\d,]+)", timeout=30)
    assert int(status.group(1).replace(",", "")) == len(letters)
    with pytest.raises(subprocess.CalledProcessError):  # not while it runs
        subprocess.run(
            [sys.executable, "-m", "stack", "reset"],
            cwd=ROOT,
            env=up.env,
            check=True,
            capture_output=True,
        )
    epoch = _redis_epoch("games")
    assert epoch is not None
    up.proc.send_signal(signal.SIGINT)
    assert up.finish() == 0, "".join(up.lines)

    # The restart: no new feed, so everything seen is what the first run left.
    again = start_up(INPLAY_DATA_DIR=str(data), SIM_LIMIT="1")
    again.wait_for(r"Ctrl-C stops everything", timeout=120)
    assert _redis_epoch("games") == epoch  # Redis kept its channels (append-only file)
    assert len(_topic_records(bootstrap, TOPICS)) >= events + invalid
    again.wait_for(r"producer exited \(code 0\)", timeout=60)
    time.sleep(6)  # a report window of the sink and ingest
    again.proc.send_signal(signal.SIGINT)
    assert again.finish() == 0, "".join(again.lines)
    sink = records(data / "logs" / "sink.log", "sink stopped")[-1]["counters"]
    second = records(data / "logs" / "producer.log", "summary")[-1]
    # Only what the second run produced (its one event, and the first run's games it ended
    # as abandoned) is new to the sink: nothing of the first run was stored again.
    assert second["ended_games"] > 0, second
    assert sink["duplicates"] == 0 and sink["events"] == second["delivered"], (sink, second)
    ingest = records(data / "logs" / "ingest.log", "stopped")[-1]["counts"]
    assert ingest.get("duplicate", 0) == 0 and ingest.get("invalid", 0) == 0, ingest

    reset = subprocess.run(
        [sys.executable, "-m", "stack", "reset"],
        cwd=ROOT,
        env=again.env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "kafka" in reset.stdout and "redis" in reset.stdout
    assert not (data / "kafka").exists() and not (data / "redis").exists()
