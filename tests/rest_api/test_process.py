"""The real ``python -m rest_api`` process, called over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request on a kept-alive connection; read its response."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def _http_edges(port: int) -> None:
    """What only the real server shows: connection handling, and uvicorn's own answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # A NUL is a 400 in the JSON shape, and the connection stays usable.
        status, headers, body = _exchange(sock, b"GET /v1/games/%00 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status == 400 and orjson.loads(body)["error"]["parameter"] == "game_id"
        assert headers["content-type"] == "application/json" and "connection" not in headers
        status, headers, _ = _exchange(sock, b"POST /v1/games HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        status, _, _ = _exchange(sock, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status == 200
    # httptools (llhttp) knows a fixed set of methods; it refuses any other before the app
    # sees the request, in uvicorn's plain-text shape (docs/rest-api.md, "Errors").
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        status, headers, body = _exchange(sock, b"FOOBAR /v1/games HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (status, body) == (400, b"Invalid HTTP request received.")
        assert headers["content-type"].startswith("text/plain")
        assert headers["connection"] == "close"
        assert sock.recv(1) == b""  # and it closed the connection


def test_python_m_rest_api_serves_over_http(seeded: str, stack: Any) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": seeded,
        "REDIS_URL": stack.redis_url,
        "API_PORT": str(port),
        "API_RATE_LIMIT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "rest_api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "python -m rest_api exited"
            assert time.monotonic() < deadline, "python -m rest_api did not start"
            time.sleep(0.1)
        assert httpx.get(f"{base}/ready").status_code == 200
        game = httpx.get(f"{base}/v1/games/rt-g1").json()
        assert game["home"] == "Manchester United" and len(game["markets"]) == 2
        candles = httpx.get(
            f"{base}/v1/markets/rt-m1/candles",
            params={"interval": "5m", "from": "2030-01-01T12:00:00Z", "to": "2030-01-01T13:00Z"},
        )
        assert candles.status_code == 200 and candles.json()["selections"]["home"][0]["ticks"] == 7
        missing = httpx.get(f"{base}/nowhere")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        spec = httpx.get(f"{base}/openapi.json")
        assert spec.headers["content-type"] == "application/json" and spec.json()["paths"]
        _http_edges(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    # Uvicorn shuts down cleanly, then re-raises the signal so the parent sees why it ended.
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    settings_line = next(line for line in lines if line["message"] == "settings")
    assert settings_line["settings"]["database_url"] == "**********"  # masked
    assert settings_line["settings"]["redis_url"] == "**********"
    assert any(line["message"] == "serving" for line in lines)
    assert any(line["message"] == "Application shutdown complete." for line in lines)
