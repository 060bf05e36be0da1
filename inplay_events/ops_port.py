"""The ops side port of the producer, ingest and the sink: /health, /ready and /metrics.

A tiny HTTP/1.1 server on the process's own asyncio loop, one request per connection: the
readiness checks run on the loop whose work they judge (a stuck loop fails its probe), and
no thread or lock is needed. prometheus_client's own server would answer /metrics only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# A check that has not answered in this long counts as failed (a dependency that hangs).
CHECK_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 8192
JSON = "application/json"

# None when the dependency is fine, else why not; raising counts as a failure too.
Check = Callable[[], Awaitable[str | None]]
Values = Mapping[str, float | Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class Metric:
    """One number a service exposes: ``inplay_<service>_<name>``, per ``label`` if given."""

    name: str
    doc: str
    kind: Literal["counter", "gauge"] = "counter"
    label: str | None = None


class ValuesCollector(Collector):
    """Turns the plain numbers a service already keeps into metric families at scrape time."""

    def __init__(self, prefix: str, metrics: Sequence[Metric], read: Callable[[], Values]) -> None:
        self._prefix = prefix
        self._metrics = metrics
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """One family per metric; a metric missing from the values reads 0."""
        values = self._read()
        for m in self._metrics:
            family_cls = CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily
            name = f"{self._prefix}_{m.name}"
            value = values.get(m.name, 0)
            if m.label is None:
                assert not isinstance(value, Mapping)
                yield family_cls(name, m.doc, value=value)
                continue
            family = family_cls(name, m.doc, labels=[m.label])
            if isinstance(value, Mapping):
                for label_value, v in sorted(value.items()):
                    family.add_metric([label_value], v)
            yield family


def registry_for(
    prefix: str, metrics: Sequence[Metric], read: Callable[[], Values]
) -> CollectorRegistry:
    """A registry holding only this service's metrics (``prefix`` e.g. ``inplay_sink``)."""
    registry = CollectorRegistry()
    registry.register(ValuesCollector(prefix, metrics, read))
    return registry


def lag_problem(lag: int | None, max_lag: int) -> str | None:
    """Why a consumer lag fails readiness (None: it does not); an unknown lag fails too."""
    if lag is None:
        return "lag not known yet (no fetch answered for some partition)"
    if lag > max_lag:
        return f"{lag} records behind the high watermarks (bound {max_lag})"
    return None


def ready_answer(results: Mapping[str, str | None]) -> tuple[int, dict[str, object]]:
    """The /ready status and body from each check's result (None = ok, else the reason)."""
    failed = sorted(name for name, why in results.items() if why is not None)
    checks = {name: "ok" if why is None else why for name, why in sorted(results.items())}
    if failed:
        return 503, {"status": "not ready", "failed": failed, "checks": checks}
    return 200, {"status": "ready", "checks": checks}


def parse_request_line(line: bytes) -> tuple[str, str] | None:
    """(method, path without query) of an HTTP request line, or None if it is not one."""
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    return parts[0], parts[1].split("?", 1)[0]


def http_response(status: int, content_type: str, body: bytes) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def run_checks(checks: Mapping[str, Check]) -> dict[str, str | None]:
    """Every check at once, each bounded by CHECK_TIMEOUT_S; an exception is its reason."""

    async def one(check: Check) -> str | None:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"no answer in {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


class OpsServer:
    """Serves /health, /ready and /metrics for one process on its own loop."""

    def __init__(self, checks: Mapping[str, Check], registry: CollectorRegistry) -> None:
        self._checks = checks
        self._registry = registry
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self, host: str, port: int) -> str:
        """Listen on ``host:port``; the base URL."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if path not in ("/health", "/ready", "/metrics"):
            return 404, JSON, orjson.dumps({"error": "not found"})
        if method != "GET":
            return 405, JSON, orjson.dumps({"error": "GET only"})
        if path == "/health":
            return 200, JSON, orjson.dumps({"status": "ok"})
        if path == "/ready":
            status, body = ready_answer(await run_checks(self._checks))
            return status, JSON, orjson.dumps(body)
        return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            request = parse_request_line(head.split(b"\r\n", 1)[0][:MAX_REQUEST_BYTES])
            if request is None:
                response = http_response(400, JSON, orjson.dumps({"error": "bad request"}))
            else:
                response = http_response(*await self.answer(*request))
            writer.write(response)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that left or never finished its request gets nothing
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def serve(
    host: str,
    port: int,
    checks: Mapping[str, Check],
    registry: CollectorRegistry,
    log: logging.Logger,
) -> OpsServer | None:
    """Start the ops port and log its address; None (and nothing listens) when ``port`` is 0."""
    if not port:
        return None
    server = OpsServer(checks, registry)
    url = await server.start(host, port)
    log.info("ops port listening", extra={"url": url, "paths": ["/health", "/ready", "/metrics"]})
    return server
