"""The ingest process: settings, signals, run until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from broadcaster.ingest.consumer import Ingest
from broadcaster.ingest.ops import METRICS, IngestView
from broadcaster.settings import IngestSettings
from inplay_events import ops_port

STOP_TIMEOUT_S = 10.0


async def run(settings: IngestSettings, log: logging.Logger) -> int:
    """Consume until SIGINT/SIGTERM; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ingest = Ingest(settings, log)
    view = IngestView(ingest, settings.ingest_ready_max_lag)
    registry = ops_port.registry_for("inplay_ingest", METRICS, view.values)
    ops = await ops_port.serve(
        settings.ingest_ops_host, settings.ingest_ops_port, view.checks(), registry, log
    )
    try:
        return await _run(settings, log, stop, ingest)
    finally:
        if ops is not None:
            await ops.close()


async def _run(
    settings: IngestSettings, log: logging.Logger, stop: asyncio.Event, ingest: Ingest
) -> int:
    # Start-up retries while the broker comes up; a signal meanwhile (say, the stack around
    # it dying, broker included) must end it, not wait out the retries.
    starting = asyncio.create_task(ingest.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ingest.stop(), STOP_TIMEOUT_S)
        log.info("stopped before it started")
        return 0
    if starting.exception() is not None:
        log.error("cannot start", extra={"error": str(starting.exception())})
        return 1
    log.info("ingest running", extra={"group": settings.ingest_group_id})
    try:
        await ingest.run(stop)
    finally:
        try:
            # Commits and leaves the group; with the broker gone that would retry forever.
            await asyncio.wait_for(ingest.stop(), STOP_TIMEOUT_S)
        except Exception as exc:
            log.warning("stopped without a clean leave", extra={"error": repr(exc)})
        log.info("stopped", extra={"counts": dict(ingest.counts)})
    return 0
