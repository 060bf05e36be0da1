"""The ingest process: settings, signals, run until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal

from broadcaster.ingest.consumer import Ingest
from broadcaster.settings import IngestSettings


async def run(settings: IngestSettings, log: logging.Logger) -> int:
    """Consume until SIGINT/SIGTERM; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ingest = Ingest(settings, log)
    try:
        await ingest.start()
    except Exception as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 1
    log.info("ingest running", extra={"group": settings.ingest_group_id})
    try:
        await ingest.run(stop)
    finally:
        await ingest.stop()
        log.info("stopped", extra={"counts": dict(ingest.counts)})
    return 0
