"""The sink process: consume a batch, dead-letter the bad, write the rest in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import asdict

from inplay_events import ops_port
from storage.settings import SinkSettings
from storage.sink import retention, rows
from storage.sink.consumer import SinkConsumer
from storage.sink.deadletter import DeadLetters
from storage.sink.metrics import OPS_METRICS, Counters, Throughput
from storage.sink.offsets import StaleOffsets
from storage.sink.ops import SinkView
from storage.sink.writer import Writer


def _install_signal_handlers(stop: asyncio.Event, log: logging.Logger) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        log.info("stopping after the batch in hand", extra={"signal": signum.name})
        stop.set()
        # A second signal falls back to the default behaviour: stop right away.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def _report(
    every_s: float, counters: Counters, consumer: SinkConsumer, writer: Writer,
    log: logging.Logger,
) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    throughput = Throughput(loop.time(), counters)
    while True:
        await asyncio.sleep(every_s)
        counters.db_retries = writer.retries
        log.info("throughput", extra=throughput.report(loop.time(), lag=consumer.lag))


async def run(settings: SinkSettings, log: logging.Logger) -> int:
    """Run until signalled; the exit code."""
    stop = asyncio.Event()
    _install_signal_handlers(stop, log)
    counters = Counters()
    writer = Writer(
        settings.database_url.get_secret_value(), settings.sink_group_id, log,
        mode=settings.sink_write_mode, retry_max_s=settings.sink_retry_max_s,
    )  # fmt: skip

    def on_reset() -> None:
        counters.offset_resets += 1

    consumer = SinkConsumer(
        settings.kafka_bootstrap_servers, settings.sink_group_id, settings.sink_topics, writer,
        log, session_timeout_ms=settings.sink_session_timeout_ms,
        instance_id=settings.sink_instance_id, on_reset=on_reset,
    )  # fmt: skip
    view = SinkView(
        counters,
        consumer,
        writer,
        settings.database_url.get_secret_value(),
        settings.sink_ready_max_lag,
    )
    registry = ops_port.registry_for("inplay_sink", OPS_METRICS, view.values)
    ops = await ops_port.serve(
        settings.sink_ops_host, settings.sink_ops_port, view.checks(), registry, log
    )
    try:
        return await _consume(settings, log, stop, counters, writer, consumer)
    finally:
        if ops is not None:
            await ops.close()


async def _consume(
    settings: SinkSettings,
    log: logging.Logger,
    stop: asyncio.Event,
    counters: Counters,
    writer: Writer,
    consumer: SinkConsumer,
) -> int:
    dead = DeadLetters(settings.kafka_bootstrap_servers, settings.kafka_idempotence, log)
    await dead.start()
    await consumer.start()
    log.info("sink started", extra={"group": settings.sink_group_id})
    keep = retention.run_forever(
        settings.database_url.get_secret_value(),
        settings.sink_raw_retention, settings.sink_rollup_retention,
        settings.sink_retention_every_s, log,
    )  # fmt: skip
    report = _report(settings.sink_report_every_s, counters, consumer, writer, log)
    tasks = [asyncio.create_task(keep), asyncio.create_task(report)]
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(settings.sink_poll_timeout_ms, settings.sink_max_batch)
            if not fetched:
                continue
            # No await between the fetch and taking the lock: a revocation cannot slip in.
            async with consumer.batch_lock:
                batch = rows.build(rec for records in fetched.values() for rec in records)
                await dead.publish(batch.dead)
                try:
                    result = await writer.write(batch)
                except StaleOffsets as exc:
                    counters.stale_batches += 1
                    log.warning(
                        "batch already committed elsewhere, rolled back; resuming from the store",
                        extra={"partitions": sorted(f"{t}-{p}" for t, p in exc.partitions)},
                    )
                    # The whole batch rolled back, not only the stale partitions: every
                    # partition in it must be read again from its stored offset.
                    await consumer.seek_back(set(batch.next_offsets))
                    continue
                counters.add(batch, result)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        await dead.stop()
        await writer.close()
        counters.db_retries = writer.retries
        log.info("sink stopped", extra={"counters": asdict(counters)})
    return 0
