"""The ops port: its decisions as plain values, then the server over a real socket."""

from __future__ import annotations

import logging

import orjson

from inplay_events import ops_port
from inplay_events.ops_port import Metric
from tests.inplay_events.ops_client import get, get_json, metrics


def test_ready_answer_names_each_failed_check():
    assert ops_port.ready_answer({"kafka": None, "redis": None}) == (
        200,
        {"status": "ready", "checks": {"kafka": "ok", "redis": "ok"}},
    )
    status, body = ops_port.ready_answer({"kafka": None, "redis": "ConnectionError: refused"})
    assert status == 503
    assert body == {
        "status": "not ready",
        "failed": ["redis"],
        "checks": {"kafka": "ok", "redis": "ConnectionError: refused"},
    }


def test_lag_problem_is_over_the_bound_only():
    assert (
        ops_port.lag_problem(None, 10) == "lag not known yet (no fetch answered for some partition)"
    )
    assert ops_port.lag_problem(10, 10) is None
    assert ops_port.lag_problem(11, 10) == "11 records behind the high watermarks (bound 10)"


def test_parse_request_line():
    assert ops_port.parse_request_line(b"GET /ready?x=1 HTTP/1.1") == ("GET", "/ready")
    assert ops_port.parse_request_line(b"garbage") is None


def test_http_response_closes_the_connection():
    raw = ops_port.http_response(503, "application/json", b"{}")
    assert raw.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close\r\n" in raw
    assert b"Content-Length: 2\r\n" in raw
    assert raw.endswith(b"\r\n\r\n{}")


async def test_server_answers_health_ready_and_metrics():
    state = {"ok": True, "events": 3}

    async def dep() -> str | None:
        return None if state["ok"] else "gone"

    async def broken() -> str | None:
        raise ConnectionRefusedError("nothing listens")

    registry = ops_port.registry_for(
        "inplay_test",
        [
            Metric("events", "Events."),
            Metric("by_topic", "Per topic.", label="topic"),
            Metric("lag_records", "Lag.", kind="gauge"),
        ],
        lambda: {"events": state["events"], "by_topic": {"odds": 2, "bets": 1}, "lag_records": 5},
    )
    log = logging.getLogger("test")
    assert await ops_port.serve("127.0.0.1", 0, {"dep": dep}, registry, log) is None
    server = ops_port.OpsServer({"dep": dep}, registry)
    url = await server.start("127.0.0.1", 0)
    port = int(url.rsplit(":", 1)[1])
    try:
        assert await get_json(port, "/health") == (200, {"status": "ok"})
        assert await get_json(port, "/ready") == (
            200,
            {"status": "ready", "checks": {"dep": "ok"}},
        )
        state["ok"] = False
        status, body = await get_json(port, "/ready")
        assert (status, body["failed"], body["checks"]) == (503, ["dep"], {"dep": "gone"})
        got = await metrics(port)
        assert got["inplay_test_events_total"] == 3
        assert got['inplay_test_by_topic_total{topic="odds"}'] == 2
        assert got['inplay_test_by_topic_total{topic="bets"}'] == 1
        assert got["inplay_test_lag_records"] == 5
        state["events"] = 4
        assert (await metrics(port))["inplay_test_events_total"] == 4
        assert (await get(port, "/nope"))[0] == 404
        assert (await get(port, "/health", method="POST"))[0] == 405
    finally:
        await server.close()
    raising = ops_port.OpsServer({"dep": broken}, registry)
    status, _, body = await raising.answer("GET", "/ready")
    assert status == 503
    assert orjson.loads(body)["checks"] == {"dep": "ConnectionRefusedError: nothing listens"}
