"""`make reset`: wipe the local stack's data (Kafka's logs, Redis, PostgreSQL, the logs).

Kept: the installed parts (Kafka's jars in .local/cache, the TimescaleDB build) and the
test harness's folders, which every test session makes anew anyway.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stack import broker, redis_server
from stack.errors import StackError
from stack.settings import StackSettings
from stack.up import running_owner


def data_folders(settings: StackSettings) -> list[Path]:
    """Every folder that holds the platform's data or its run state."""
    return [
        broker.kafka_dir(settings),
        redis_server.folder(settings),
        settings.pg_data_dir,
        settings.log_dir,
        settings.run_dir,
    ]


def reset(settings: StackSettings) -> list[Path]:
    """Delete the data folders of a stopped stack; return the ones that existed."""
    owner = running_owner(settings)
    if owner is not None:
        raise StackError(f"a stack is running (make up, pid {owner}): `make down` first")
    removed = [folder for folder in data_folders(settings) if folder.exists()]
    for folder in removed:
        shutil.rmtree(folder)
    return removed
