"""Fixtures shared by the deploy checks: the compose file as written and as resolved."""

from __future__ import annotations

import pytest
import yaml

from .deployfiles import BOOTSTRAP_HINT, COMPOSE_FILE, compose_config, docker_compose_cli

# Services that listen: container port setting, host-address setting, healthcheck path.
LISTENERS = {
    "rest-api": [("API_PORT", "API_HOST", "/health")],
    "gateway": [
        ("GATEWAY_PORT", "GATEWAY_HOST", None),
        ("GATEWAY_METRICS_PORT", "GATEWAY_HOST", "/metrics"),
    ],
}


@pytest.fixture(scope="module")
def cli() -> str:
    cli = docker_compose_cli()
    if cli is None:
        pytest.fail(BOOTSTRAP_HINT)
    return cli


@pytest.fixture(scope="module")
def raw() -> dict:
    """The file as written (anchors merged), before interpolation and normalisation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def resolved(cli: str) -> dict:
    """The file as docker-compose resolves it, with every variable at its default."""
    return compose_config(COMPOSE_FILE).resolved()
