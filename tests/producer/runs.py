"""Run ``python -m producer`` as a subprocess against the test broker, and read its logs."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def run_id(label: str) -> str:
    """A run id no other run in this broker's life uses, so its events can be told apart."""
    return f"{label}-{uuid.uuid4().hex[:8]}"


async def start_producer(bootstrap: str, *args: str, **knobs: Any) -> asyncio.subprocess.Process:
    """Start ``python -m producer`` with ``knobs`` as environment variables.

    Each run gets a producer name of its own unless ``producer_name`` is given: tests share
    the topics, and a run ends the unfinished games of earlier runs of the same name.
    """
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    env["PRODUCER_NAME"] = run_id("p")
    env.update({k.upper(): str(v) for k, v in knobs.items()})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "producer",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 120) -> list[dict]:
    """Wait for the process to exit 0; its JSON log lines."""
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, stderr.decode() + stdout.decode()[-2000:]
    return [orjson.loads(line) for line in stdout.splitlines() if line.startswith(b"{")]


async def run_producer(bootstrap: str, *args: str, **knobs: Any) -> dict:
    """Run the producer to completion; its summary log record."""
    logs = await finish(await start_producer(bootstrap, *args, **knobs))
    return next(r for r in logs if r["message"] == "summary")
