"""`make up` as a user runs it: everything starts, the feed flows, and nothing outlives it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import orjson
import pytest
from websockets.sync.client import connect

from stack.settings import ROOT
from tests.stack.up import PORTS, alive, descendants, port_in_use


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
