"""Redis as a child of the stack: memory only, so a restart starts empty as in production
after a failover (the fan-out's channel epochs are built for that)."""

from __future__ import annotations

import asyncio
import shutil
import time

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from stack.errors import StackError
from stack.processes import Child, spawn
from stack.settings import StackSettings


def start(settings: StackSettings) -> Child:
    """Run redis-server on the stack's port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not installed: run `make bootstrap`")
    folder = settings.data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port", str(settings.redis_port),
        "--bind", settings.host,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
        "--daemonize", "no",
    ]  # fmt: skip
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
