"""Redis as a child of the stack, persisted with an append-only file in the data folder.

Kafka keeps its records and ingest's committed offsets across a restart, so Redis keeps the
channels' state too: an empty Redis would leave every snapshot without its games until each
next changed (ingest rebuilds it from the topics when it finds Redis empty all the same).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from stack.errors import StackError
from stack.processes import Child, spawn
from stack.settings import StackSettings


def folder(settings: StackSettings) -> Path:
    """Redis's data folder (its append-only files)."""
    return settings.data_dir / "redis"


def start(settings: StackSettings) -> Child:
    """Run redis-server on the stack's port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not installed: run `make bootstrap`")
    data = folder(settings)
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port",
        str(settings.redis_port),
        "--bind",
        settings.host,
        "--save",
        "",
        # Written to the OS every second: a crash of Redis alone loses nothing (the kernel
        # holds the writes); a crash of the machine at most the last second.
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        str(data),
        "--daemonize",
        "no",
    ]
    return spawn("redis", argv, run_dir=settings.run_dir, log_dir=settings.log_dir)


async def wait_ready(settings: StackSettings, child: Child, timeout: float = 20.0) -> None:
    """Wait until Redis answers PING."""
    client = aioredis.from_url(settings.redis_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if not child.alive():
                raise StackError(f"redis exited:\n{child.log_tail()}")
            try:
                await client.ping()
                return
            except (RedisConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise StackError(f"redis not ready after {timeout:.0f}s") from None
                await asyncio.sleep(0.1)
    finally:
        await client.aclose()
