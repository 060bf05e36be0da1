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


# Each consumer and the producer serve /health, /ready and /metrics on the REST API's port
# plus this offset, so `make up` needs one setting for all of them.
OPS_PORT_OFFSETS = {"sink": 1, "ingest": 2, "producer": 3}


def ops_port(settings: StackSettings, name: str) -> int:
    """The ops port `make up` gives the process ``name``."""
    return settings.api_port + OPS_PORT_OFFSETS[name]


def _ops_env(settings: StackSettings, name: str, env_prefix: str) -> dict[str, str]:
    return {
        f"{env_prefix}_OPS_HOST": settings.host,
        f"{env_prefix}_OPS_PORT": str(ops_port(settings, name)),
    }


def _ops_url(settings: StackSettings, name: str) -> str:
    return f"http://{settings.host}:{ops_port(settings, name)}/metrics   (/health, /ready)"


def platform_services(settings: StackSettings) -> list[Service]:
    """Every platform process, in start order: the consumers before the producer."""
    py = sys.executable
    host, api, ws = settings.host, settings.api_port, settings.ws_port
    return [
        Service("migrate", [py, "-m", "storage", "migrate"], oneshot=True),
        Service(
            "sink",
            [py, "-m", "storage", "sink"],
            env=_ops_env(settings, "sink", "SINK"),
            url=_ops_url(settings, "sink"),
        ),
        Service(
            "rest-api",
            [py, "-m", "rest_api"],
            env={"API_HOST": host, "API_PORT": str(api)},
            url=f"http://{host}:{api}/v1/games   (docs: http://{host}:{api}/docs)",
            ready_port=api,
        ),
        Service(
            "ingest",
            [py, "-m", "broadcaster", "ingest"],
            env=_ops_env(settings, "ingest", "INGEST"),
            url=_ops_url(settings, "ingest"),
        ),
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
        Service(
            "producer",
            [py, "-m", "producer"],
            env=_ops_env(settings, "producer", "PRODUCER"),
            url=_ops_url(settings, "producer"),
        ),
    ]
