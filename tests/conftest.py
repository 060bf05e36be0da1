"""Test harness: one real PostgreSQL+TimescaleDB, Redis and Apache Kafka for the session.

They run on their own ports (not the `make up` ones, so tests and a running stack coexist)
with data under .local/test; the database, Redis and Kafka's logs are made anew every session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from stack import broker, postgres, redis_server
from stack.processes import Child, stop_recorded
from stack.settings import ROOT, StackSettings
from stack.up import check_ports_free


@dataclass(frozen=True)
class TestStack:
    """Addresses of the services the harness started."""

    settings: StackSettings
    kafka_bootstrap: str
    redis_url: str
    pg_dsn: str


def _test_settings() -> StackSettings:
    env = os.environ.get
    return StackSettings(
        data_dir=Path(env("INPLAY_TEST_DATA_DIR", str(ROOT / ".local" / "test"))),
        pg_port=int(env("INPLAY_TEST_PG_PORT", "25432")),
        redis_port=int(env("INPLAY_TEST_REDIS_PORT", "26379")),
        kafka_port=int(env("INPLAY_TEST_KAFKA_PORT", "29092")),
        database="inplay_test",
    )


async def _start(settings: StackSettings, children: list[Child]) -> None:
    # Kafka and Redis keep their data across restarts; a test session starts from none.
    shutil.rmtree(broker.kafka_dir(settings), ignore_errors=True)
    shutil.rmtree(redis_server.folder(settings), ignore_errors=True)
    postgres.init_cluster(settings)
    children.append(postgres.start(settings))
    await postgres.wait_ready(settings, children[-1])
    children.append(redis_server.start(settings))
    await redis_server.wait_ready(settings, children[-1])
    children.append(broker.start(settings))
    await broker.wait_ready_and_create_topics(settings, children[-1])


def _fresh_database(settings: StackSettings) -> None:
    admin = f"postgresql://postgres@{settings.host}:{settings.pg_port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{settings.database}"')


@pytest.fixture(scope="session")
def stack() -> Iterator[TestStack]:
    """The real services, started once per test session and stopped at its end."""
    settings = _test_settings()
    stop_recorded(settings.run_dir)  # a run that was killed may have left them behind
    check_ports_free(settings, services=False)  # the harness starts no platform service
    children: list[Child] = []
    try:
        asyncio.run(_start(settings, children))
        _fresh_database(settings)
        yield TestStack(settings, settings.kafka_bootstrap, settings.redis_url, settings.pg_dsn)
    finally:
        for child in reversed(children):
            child.stop()
