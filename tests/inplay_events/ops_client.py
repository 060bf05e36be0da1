"""Ask a process's ops port (/health, /ready, /metrics) over a plain socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families


async def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    """(status, body) of one request to 127.0.0.1:``port``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the server closes after answering
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def get_json(port: int, path: str) -> tuple[int, Any]:
    """(status, decoded JSON body)."""
    status, body = await get(port, path)
    return status, orjson.loads(body)


async def metrics(port: int) -> dict[str, float]:
    """Every sample of /metrics as ``name{label="v"}`` (or ``name``) -> value."""
    status, body = await get(port, "/metrics")
    assert status == 200, body
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


async def wait_for(
    check: Callable[[], Any], what: str, timeout: float = 60, poll: float = 0.2
) -> Any:
    """Await ``check()`` until it returns something truthy; that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def wait_listening(port: int, timeout: float = 60) -> None:
    """Until the ops port answers /health (the process is up and serving its loop)."""

    async def answers() -> bool:
        try:
            return (await get(port, "/health"))[0] == 200
        except OSError:
            return False

    await wait_for(answers, f"the ops port {port}", timeout)
