"""The platform's own processes that `make up` runs, in start order."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from stack.settings import StackSettings


@dataclass(frozen=True)
class Service:
    """One platform process: how to start it and what address to print for it."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # A one-shot step (migrations) runs to completion before the next service starts.
    oneshot: bool = False
    url: str | None = None
    # A port that answers once the service is ready; `make up` waits for it.
    ready_port: int | None = None


def platform_services(settings: StackSettings) -> list[Service]:
    """Every platform process, in start order: the consumers before the producer."""
    py = sys.executable
    host, api, ws = settings.host, settings.api_port, settings.ws_port
    return [
        Service("migrate", [py, "-m", "storage", "migrate"], oneshot=True),
        Service("sink", [py, "-m", "storage", "sink"]),
        Service(
            "rest-api",
            [py, "-m", "rest_api"],
            env={"API_HOST": host, "API_PORT": str(api)},
            url=f"http://{host}:{api}/v1/games   (docs: http://{host}:{api}/docs)",
            ready_port=api,
        ),
        Service("ingest", [py, "-m", "broadcaster", "ingest"]),
        Service(
            "gateway",
            [py, "-m", "broadcaster", "gateway"],
            env={
                "GATEWAY_HOST": host,
                "GATEWAY_PORT": str(ws),
                "GATEWAY_METRICS_PORT": str(ws + 1),
            },
            url=f"ws://{host}:{ws}/ws   (client: http://{host}:{ws}/inplay.js, "
            f"metrics: http://{host}:{ws + 1}/metrics)",
            ready_port=ws,
        ),
        Service("producer", [py, "-m", "producer"]),
    ]
