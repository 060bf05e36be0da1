"""/metrics on a small HTTP port: counters read from plain ints at scrape time.

The hot path only bumps ints (no prometheus locks per delivery); a custom collector turns
them into metric families when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY = Histogram(
    "inplay_gateway_feed_to_send_seconds",
    "Event time (ts) to the frame holding it written to a client socket (first write).",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
GATEWAY_LATENCY = Histogram(
    "inplay_gateway_publish_to_send_seconds",
    "Ingest sending the event to Redis to the frame written (first write): the gateway's share.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)


class GatewayCollector(Collector):
    """Reads the gateway's live numbers when scraped."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """One family per number."""
        v = self._read()
        yield GaugeMetricFamily(
            "inplay_gateway_connections", "Open WebSocket connections.", value=v["connections"]
        )
        yield GaugeMetricFamily(
            "inplay_gateway_subscriptions", "Client subscriptions.", value=v["subscriptions"]
        )
        yield GaugeMetricFamily(
            "inplay_gateway_channels", "Channels subscribed in Redis.", value=v["channels"]
        )
        for name, doc in (
            ("messages_out", "Messages written to clients."),
            ("bytes_out", "Bytes of frames written to clients."),
            ("frames_out", "WebSocket frames written to clients."),
            ("conflations", "Odds messages dropped for a newer one of the same market."),
            ("slow_closes", "Connections closed with 4008 (slow consumer)."),
            ("publications_in", "Publications received from Redis."),
            ("recoveries", "Channel stream recoveries (gap or new epoch)."),
            ("connections_refused", "Handshakes refused (origin, limits, path)."),
            ("errors_sent", "Protocol error messages sent."),
        ):
            yield CounterMetricFamily(f"inplay_gateway_{name}", doc, value=v[name])


def serve(
    host: str,
    port: int,
    read: Callable[[], dict[str, float]],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """Register the collector and serve /metrics from a background thread."""
    registry.register(GatewayCollector(read))
    if port:
        start_http_server(port, addr=host, registry=registry)
