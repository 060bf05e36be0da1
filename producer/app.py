"""The producer process: a source of events (simulation or replay), pacing, Kafka, logs."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import KafkaError

from inplay_events import encode, ops_port, topic_for
from producer.kafka_sink import KafkaSink
from producer.ops import METRICS, ProducerView
from producer.pacing import Pacer, StopRule
from producer.recording import BadLine, Recorder, read_recording
from producer.restart import DeliveryFailed, Ended, end_abandoned
from producer.settings import Settings
from producer.simulator import SimConfig, Simulator
from producer.stats import Throughput

REPORT_EVERY_S = 5.0
# Unpaced, let the Kafka sender and the signal handlers run this often.
YIELD_EVERY = 1000
# A paced wait is cut into sleeps this long so a signal ends it promptly.
STOP_CHECK_S = 0.1


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Kafka record to produce, with the event time that paces it."""

    topic: str
    key: bytes
    value: bytes
    ts: int


def simulated(settings: Settings, start_ms: int, id_nonce: str | None = None) -> Iterator[Outgoing]:
    """The simulator's events as Kafka records; the seed must be resolved already."""
    assert settings.sim_seed is not None
    sim = Simulator(
        SimConfig(
            seed=settings.sim_seed,
            run_id=settings.sim_run_id,
            start_ms=start_ms,
            games=settings.sim_games,
            events_per_sec=settings.sim_events_per_sec,
            speedup=settings.sim_speedup,
            accounts=settings.sim_accounts,
        ),
        id_nonce=id_nonce,
    )
    for event in sim:
        assert event.type != "alive"
        yield Outgoing(topic_for(event.type), event.game_id.encode(), encode(event), event.ts)


class Replay:
    """A recording's valid events as Kafka records, unchanged; bad lines logged and counted."""

    def __init__(self, path: Path, log: logging.Logger) -> None:
        self.path = path
        self.bad_lines = 0
        self._log = log

    def __iter__(self) -> Iterator[Outgoing]:
        with self.path.open("rb") as lines:
            for item in read_recording(lines):
                if isinstance(item, BadLine):
                    self.bad_lines += 1
                    self._log.warning(
                        "skipped bad line",
                        extra={"file": str(self.path), "line": item.line_no, "reason": item.reason},
                    )
                    continue
                event = item.event
                yield Outgoing(topic_for(event.type), event.game_id.encode(), item.raw, event.ts)


def _install_signal_handlers(stop: asyncio.Event, log: logging.Logger) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        log.info("stopping", extra={"signal": signum.name})
        stop.set()
        # A second signal falls back to the default behaviour: stop right away.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


async def _report(stats: Throughput, log: logging.Logger) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(REPORT_EVERY_S)
        log.info("throughput", extra=stats.report(loop.time()))


async def run(settings: Settings, log: logging.Logger) -> int:
    """Produce until the source ends, a limit is reached or a signal arrives; the exit code."""
    stop = asyncio.Event()
    _install_signal_handlers(stop, log)
    sink = KafkaSink(
        settings.kafka_bootstrap_servers, settings.kafka_idempotence, settings.producer_name, log
    )
    view = ProducerView(sink)
    registry = ops_port.registry_for("inplay_producer", METRICS, view.values)
    ops = await ops_port.serve(
        settings.producer_ops_host,
        settings.producer_ops_port,
        {"kafka": view.kafka},
        registry,
        log,
    )
    try:
        return await _produce(settings, log, stop, sink, view)
    finally:
        view.connected = False
        if ops is not None:
            await ops.close()


async def _produce(
    settings: Settings,
    log: logging.Logger,
    stop: asyncio.Event,
    sink: KafkaSink,
    view: ProducerView,
) -> int:
    loop = asyncio.get_running_loop()
    try:
        if not await sink.start(stop):
            return 0
    except KafkaError as exc:
        log.error(
            "cannot reach kafka",
            extra={"bootstrap": settings.kafka_bootstrap_servers, "error": str(exc)},
        )
        return 1
    view.connected = True
    ended = Ended(0, 0)
    if settings.end_abandoned:
        try:
            outcome = await end_abandoned(settings, sink, stop, log)
        except (KafkaError, DeliveryFailed) as exc:
            # New games on top of live abandoned ones are what this step exists to prevent.
            log.error("cannot end abandoned games", extra={"error": str(exc)})
            await sink.stop()
            return 1
        if outcome is None:
            await sink.stop()
            return 0
        ended = outcome
    replay = Replay(settings.sim_replay, log) if settings.sim_replay else None
    if replay:
        source = iter(replay)
        log.info("replaying", extra={"file": str(replay.path)})
    else:
        # "Now" is taken once Kafka answers, so paced event times track the wall clock
        # even when the broker took a while to come up.
        start_ms = settings.sim_start_ms
        if start_ms is None:
            start_ms = int(time.time() * 1000)
        source = simulated(settings, start_ms)
        log.info(
            "simulating",
            extra={"seed": settings.sim_seed, "run_id": settings.sim_run_id, "start_ms": start_ms},
        )
    recorder = Recorder(settings.sim_record) if settings.sim_record else None
    pacer = Pacer() if settings.sim_pace else None
    rule = StopRule(settings.sim_limit, settings.sim_duration_s, settings.sim_pace)
    stats = view.stats = Throughput(loop.time())
    started = loop.time()
    reporter = asyncio.create_task(_report(stats, log))
    reason = "end of recording" if replay else "stopped"
    try:
        for out in source:
            if stop.is_set():
                reason = "signal"
                break
            if rule.done_before(out.ts, stats.sent, loop.time() - started):
                reason = "limit"
                break
            if pacer is not None:
                delay = pacer.delay(out.ts, loop.time())
                if settings.sim_duration_s is not None:
                    delay = min(delay, max(0.0, started + settings.sim_duration_s - loop.time()))
                if delay > 0.0:
                    # Plain sleeps, at most STOP_CHECK_S each: paced at 1,000 events/s this
                    # waits a thousand times a second, and a wait_for per event (a task and
                    # a timeout each) cost the producer a third of a core.
                    while delay > 0.0 and not stop.is_set():
                        await asyncio.sleep(min(delay, STOP_CHECK_S))
                        delay = pacer.delay(out.ts, loop.time())
                        if settings.sim_duration_s is not None:
                            left = started + settings.sim_duration_s - loop.time()
                            delay = min(delay, max(0.0, left))
                    if stop.is_set():
                        reason = "signal"
                        break
                    if rule.done_before(out.ts, stats.sent, loop.time() - started):
                        reason = "limit"
                        break
            await sink.send(out.topic, out.key, out.value)
            if recorder is not None:
                recorder.write(out.value)
            stats.add(out.topic)
            if pacer is None and stats.sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)
    finally:
        reporter.cancel()
        view.connected = False
        await sink.stop()
        if recorder is not None:
            recorder.close()
    summary = stats.summary(loop.time())
    summary.update(
        reason=reason, delivered=sink.delivered, failed=sink.failed,
        bad_lines=replay.bad_lines if replay else 0,
        ended_games=ended.games, ended_events=ended.events,
    )  # fmt: skip
    log.info("summary", extra=summary)
    if sink.failed:
        log.error("some events were not delivered", extra={"failed": sink.failed})
        return 1
    return 0
