"""Fan-out fixtures: one ingest worker and one gateway for the session; more on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from tests.broadcaster.helpers import JWT_SECRET, Proc, free_port, start_process, wait_port

ALLOWED_ORIGIN = "https://bets.example"

StartGateway = Callable[..., Awaitable[Proc]]


@pytest.fixture(scope="session")
def log_dir(stack):
    """Where child processes of these tests write their logs."""
    return stack.settings.data_dir / "logs" / "broadcaster"


@pytest.fixture(scope="session")
def base_env(stack) -> dict[str, str]:
    """What every broadcaster child needs to find the stack."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "REDIS_URL": stack.redis_url,
        "LOG_LEVEL": "INFO",
    }


@pytest_asyncio.fixture(scope="session")
async def start_ingest(base_env, log_dir) -> AsyncIterator[Callable[..., Awaitable[Proc]]]:
    """Start an ingest worker (group ``fanout-test`` unless told); all stopped at the end."""
    procs: list[Proc] = []

    async def start(name: str = "ingest", **env: str) -> Proc:
        full = {
            **base_env,
            "INGEST_GROUP_ID": "fanout-test",
            "INGEST_HISTORY_MAXLEN": "200",
            "INGEST_COMMIT_INTERVAL_MS": "50",
            **env,
        }
        p = await start_process("ingest", full, log_dir, f"{name}-{len(procs)}")
        procs.append(p)
        # Joined the group (it then reads from the committed offsets, or the beginning).
        for _ in range(300):
            if any(r["message"] == "ingest running" for r in p.logs()):
                break
            assert p.proc.returncode is None, p.log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        return p

    yield start
    for p in procs:
        await p.stop()


@pytest_asyncio.fixture(scope="session")
async def start_gateway(base_env, log_dir) -> AsyncIterator[StartGateway]:
    """Start a gateway on free ports with ``env`` overrides; all stopped at the end."""
    procs: list[Proc] = []

    async def start(name: str = "gateway", **env: str) -> Proc:
        port, mport = free_port(), free_port()
        full = {
            **base_env,
            "GATEWAY_PORT": str(port),
            "GATEWAY_METRICS_PORT": str(mport),
            "GATEWAY_ALLOWED_ORIGINS": f"{ALLOWED_ORIGIN},null",
            "GATEWAY_HEARTBEAT_MS": "1000",
            "JWT_SECRET": JWT_SECRET,
            **env,
        }
        p = await start_process("gateway", full, log_dir, f"{name}-{len(procs)}")
        p.port, p.metrics_port = port, mport
        procs.append(p)
        await wait_port(port, p)
        return p

    yield start
    for p in procs:
        await p.stop()


@pytest_asyncio.fixture(scope="session")
async def ingest(start_ingest) -> Proc:
    """The session's ingest worker."""
    return await start_ingest()


@pytest_asyncio.fixture(scope="session")
async def gateway(start_gateway, ingest) -> Proc:
    """The session's gateway (with its ingest running)."""
    return await start_gateway()
