"""`make up` as a user runs it: everything starts, the feed flows, and nothing outlives it."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from websockets.sync.client import connect

from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack import broker
from stack.settings import ROOT

# Below Linux's ephemeral range (32768+): the many client sockets of other tests take their
# local ports from there, and one of them holding a port makes `make up` refuse it.
PORTS = {
    "INPLAY_PG_PORT": 21432,
    "INPLAY_REDIS_PORT": 21379,
    "INPLAY_KAFKA_PORT": 21092,
    "INPLAY_API_PORT": 21000,
    "INPLAY_WS_PORT": 21765,
}


def stack_env(tmp_name: str) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in PORTS.items()}}
    env["INPLAY_DATA_DIR"] = str(ROOT / ".local" / tmp_name)
    env["SIM_EVENTS_PER_SEC"] = "300"
    return env


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Up:
    """A `python -m stack up` process whose output is read line by line."""

    def __init__(self, data_name: str, **env: str) -> None:
        self.env = {**stack_env(data_name), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stack", "up"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no line matching {pattern!r} within {timeout}s:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 60) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        return self.proc.returncode


@pytest.fixture
def start_up() -> Iterator[Callable[..., Up]]:
    """Starts `python -m stack up` processes; kills any a failed test left running."""
    started: list[Up] = []

    def start(**env: str) -> Up:
        started.append(Up("test-up", **env))
        return started[-1]

    yield start
    for up in started:
        if up.proc.poll() is None:
            up.proc.kill()  # its children follow it (parent-death signal)
            up.proc.wait()


def assert_feed_reaches_rest_and_websocket() -> None:
    """What a user sees: games in the REST API, a snapshot then live events on the socket."""
    api = f"http://127.0.0.1:{PORTS['INPLAY_API_PORT']}/v1/games?limit=5"
    deadline = time.monotonic() + 60
    games: list[dict] = []
    while not games and time.monotonic() < deadline:
        with urllib.request.urlopen(api, timeout=5) as response:
            games = orjson.loads(response.read())["data"]
        time.sleep(0.5)
    assert games, "the sink wrote no game the API could serve within 60 s"
    ws_url = f"ws://127.0.0.1:{PORTS['INPLAY_WS_PORT']}/ws"
    with connect(ws_url, open_timeout=10) as ws:
        assert orjson.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(orjson.dumps({"op": "subscribe", "channels": ["games"]}).decode())
        seen: list[dict] = []
        while not any(m["type"] == "event" for m in seen):
            frame = orjson.loads(ws.recv(timeout=30))
            seen += frame if isinstance(frame, list) else [frame]
    kinds = [m["type"] for m in seen if m["type"] != "heartbeat"]
    assert kinds[:2] == ["subscribed", "snapshot"]
    snapshot = next(m for m in seen if m["type"] == "snapshot")
    event = next(m for m in seen if m["type"] == "event")
    assert event["seq"] > snapshot["seq"]
    # ...and the page's client comes from the gateway it talks to.
    client = f"http://127.0.0.1:{PORTS['INPLAY_WS_PORT']}/inplay.js"
    with urllib.request.urlopen(client, timeout=5) as response:
        assert b"Inplay" in response.read() and response.status == 200


def assert_all_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + 15
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pids), f"processes left behind: {alive(pids)}"
    for var, port in PORTS.items():
        assert not port_in_use(port), f"{var} port {port} still answers"


def test_up_starts_everything_feed_flows_and_ctrl_c_stops_all_twice(start_up) -> None:
    for _ in range(2):  # a second `make up` right after the first must work too
        up = start_up()
        up.wait_for(r"Ctrl-C stops everything", timeout=120)
        for var, port in PORTS.items():
            assert port_in_use(port), f"{var} port {port} not listening"
        output = "".join(up.lines)
        assert f"postgresql://postgres@127.0.0.1:{PORTS['INPLAY_PG_PORT']}/inplay" in output
        assert f"http://127.0.0.1:{PORTS['INPLAY_API_PORT']}/v1/games" in output
        assert f"ws://127.0.0.1:{PORTS['INPLAY_WS_PORT']}/ws" in output
        # The status line counts what the simulator really wrote to the broker.
        match = up.wait_for(r"feed .*odds ([\d.,]+)/s.*\(total ([\d,]+)\)", timeout=30)
        while int(match.group(2).replace(",", "")) == 0:
            match = up.wait_for(r"feed .*odds ([\d.,]+)/s.*\(total ([\d,]+)\)", timeout=30)
        assert float(match.group(1).replace(",", "")) > 0
        # Ingest's lag joins the line once it has reported a window (every 5 s).
        up.wait_for(r"feed .*ingest lag p50 [\d,]+ ms p99 [\d,]+ ms", timeout=30)
        assert_feed_reaches_rest_and_websocket()
        tree = descendants(up.proc.pid)
        assert len(tree) >= 8  # postgres, redis, broker, sink, API, ingest, gateway, producer
        up.proc.send_signal(signal.SIGINT)
        assert up.finish() == 0, "".join(up.lines)
        assert "stopped postgres" in "".join(up.lines)
        assert_all_gone(tree)


def test_children_die_with_a_killed_up_and_down_cleans_up(start_up) -> None:
    up = start_up()
    up.wait_for(r"Ctrl-C stops everything", timeout=120)
    tree = descendants(up.proc.pid)
    up.proc.kill()
    up.finish()
    assert_all_gone(tree)
    down = subprocess.run(
        [sys.executable, "-m", "stack", "down"],
        cwd=ROOT,
        env=up.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert down.returncode == 0
    # A new `make up` after a crash starts cleanly.
    again = start_up()
    again.wait_for(r"Ctrl-C stops everything", timeout=120)
    tree = descendants(again.proc.pid)
    subprocess.run([sys.executable, "-m", "stack", "down"], cwd=ROOT, env=again.env, check=True)
    assert again.finish() == 0
    assert_all_gone(tree)


@pytest.mark.parametrize(
    ("port", "named"),
    [
        (PORTS["INPLAY_REDIS_PORT"], "INPLAY_REDIS_PORT"),
        (PORTS["INPLAY_KAFKA_PORT"], "INPLAY_KAFKA_PORT"),
        (PORTS["INPLAY_KAFKA_PORT"] + 1, "INPLAY_KAFKA_PORT (+1, the broker's controller)"),
    ],
)
def test_taken_port_is_reported_with_its_variable(start_up, port: int, named: str) -> None:
    with socket.socket() as sock:
        # The previous test's servers may have left TIME_WAIT sockets on this port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        up = start_up()
        code = up.finish()
    assert code == 1
    output = "".join(up.lines)
    assert f"port {port} on 127.0.0.1 is in use; set {named} to a free port" in output
    assert "Traceback" not in output


def _records(log: Path, message: str) -> list[dict]:
    """This log's JSON records with that message, oldest first."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    records = [orjson.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("message") == message]


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
        reports = _records(logs / "ingest.log", "ingest")
        return reports[-1]["counts"].get("applied", 0) if reports else 0

    def stored() -> int:
        reports = _records(logs / "sink.log", "throughput")
        return reports[-1]["events"] if reports else 0

    deadline = time.monotonic() + 90
    while (applied(), stored()) != (events, events) and time.monotonic() < deadline:
        time.sleep(1)


def _topic_records(bootstrap: str, topics: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """Every record the topics hold, read from the log start: (topic, value)."""

    async def read() -> list[tuple[str, bytes]]:
        tps = await broker.partitions(bootstrap, topics)
        # "earliest": with "latest", a fresh assignment's reset can undo the seek below.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[tuple[str, bytes]] = []
            left = {tp for tp in tps if ends[tp] > 0}
            deadline = time.monotonic() + 60
            while left:
                assert time.monotonic() < deadline, f"records of {left} not read in 60 s"
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    out += [(tp.topic, r.value or b"") for r in records if r.offset < ends[tp]]
                    if records and records[-1].offset + 1 >= ends[tp]:
                        left.discard(tp)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(read())


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
    summary = _records(logs / "producer.log", "summary")[-1]
    assert summary["failed"] == 0 and summary["delivered"] == events, summary
    _wait_counted(logs, events)
    bootstrap = f"127.0.0.1:{PORTS['INPLAY_KAFKA_PORT']}"
    # The idempotent producer's retries wrote nothing twice.
    assert len(_topic_records(bootstrap, TOPICS)) == events
    up.proc.send_signal(signal.SIGINT)
    assert up.finish() == 0, "".join(up.lines)
    counts = _records(logs / "ingest.log", "stopped")[-1]["counts"]
    # Ingest may re-read what it had not committed when the broker died; dedupe drops it.
    assert counts.get("applied") == events, counts
    sink = _records(logs / "sink.log", "sink stopped")[-1]["counters"]
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
    sink = _records(data / "logs" / "sink.log", "sink stopped")[-1]["counters"]
    second = _records(data / "logs" / "producer.log", "summary")[-1]
    # Only what the second run produced (its one event, and the first run's games it ended
    # as abandoned) is new to the sink: nothing of the first run was stored again.
    assert second["ended_games"] > 0, second
    assert sink["duplicates"] == 0 and sink["events"] == second["delivered"], (sink, second)
    ingest = _records(data / "logs" / "ingest.log", "stopped")[-1]["counts"]
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
