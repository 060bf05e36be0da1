"""Each compose healthcheck one-liner, run for real against a local HTTP server."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from .conftest import LISTENERS
from .deployfiles import ROOT


def _serve(status: int) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def run_probe(test: list[str], port: int, to_port: int) -> int:
    """A `CMD python ...` healthcheck, run here with its port moved to `to_port`."""
    assert test[0] == "CMD" and test[1] == "python", test
    args = [a.replace(f"127.0.0.1:{port}", f"127.0.0.1:{to_port}") for a in test[2:]]
    proc = subprocess.run([sys.executable, *args], capture_output=True, timeout=30, check=False)
    return proc.returncode


@pytest.mark.parametrize("name", sorted(LISTENERS))
def test_healthchecks_pass_on_200_and_fail_otherwise(resolved: dict, name: str) -> None:
    """The probe is valid Python (stdlib only: no curl in the image) that needs a 2xx."""
    service = resolved["services"][name]
    ((port_var, _, path),) = [lsn for lsn in LISTENERS[name] if lsn[2]]
    port = int(service["environment"][port_var])
    test = service["healthcheck"]["test"]
    for status, healthy in ((200, True), (503, False), (404, False)):
        server, seen = _serve(status)
        try:
            code = run_probe(test, port, server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
        assert (code == 0) == healthy, (name, status, code)
        assert seen == [path], seen
    with socket.socket() as sock:  # a port nothing listens on: unhealthy
        sock.bind(("127.0.0.1", 0))
        assert run_probe(test, port, sock.getsockname()[1]) != 0


def test_gateway_metrics_server_answers_the_healthcheck(resolved: dict) -> None:
    """/metrics is prometheus_client's plain HTTP server (broadcaster/gateway/metrics.py)."""
    source = (ROOT / "broadcaster" / "gateway" / "metrics.py").read_text()
    assert "start_http_server(" in source
    gateway = resolved["services"]["gateway"]
    port = int(gateway["environment"]["GATEWAY_METRICS_PORT"])
    server, thread = start_http_server(0, addr="127.0.0.1", registry=CollectorRegistry())
    try:
        assert run_probe(gateway["healthcheck"]["test"], port, server.server_address[1]) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
