"""Before a producer produces: end the games its previous runs left unfinished.

Without this, every restart left the previous run's games live forever, their feed gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from dataclasses import dataclass

from aiokafka import TopicPartition

from inplay_events import encode, topic_for
from inplay_events.topics import BETS, GAMES, ODDS
from producer.abandoned import Trail
from producer.kafka_log import LogReader
from producer.kafka_sink import KafkaSink
from producer.settings import Settings

# Kafka timestamps of one producer's records are its wall clock at send time, and a game's
# first record is a game event: its odds and bets cannot be much older.
SINCE_MARGIN_MS = 60_000


@dataclass(frozen=True, slots=True)
class Ended:
    """How many games were ended, with how many events."""

    games: int
    events: int


class DeliveryFailed(Exception):
    """An ending event was not delivered; producing on would leave its game live."""


async def read_trail(reader: LogReader, parts: dict[str, list[TopicPartition]]) -> Trail:
    """Fold this producer's earlier events: all its game events, then the odds and bets of
    the games those leave unfinished (from shortly before their first game record)."""
    trail = Trail()
    first_ms: dict[str, int] = {}
    for record in await reader.read(parts[GAMES]):
        trail.add(record.event)
        gid = record.event.game_id
        first_ms[gid] = min(first_ms.get(gid, record.timestamp_ms), record.timestamp_ms)
    unfinished = trail.unfinished()
    if unfinished:
        # Odds and bets are nearly all of the log; only the unfinished games' span is read.
        since = max(0, min(first_ms[gid] for gid in unfinished) - SINCE_MARGIN_MS)
        keys = {gid.encode() for gid in unfinished}
        for record in await reader.read([*parts[ODDS], *parts[BETS]], keys, since):
            trail.add(record.event)
    return trail


async def _read(bootstrap_servers: str, producer_name: str, sink: KafkaSink) -> Trail:
    parts = {topic: await sink.partitions(topic) for topic in (GAMES, ODDS, BETS)}
    reader = LogReader(bootstrap_servers, producer_name)
    await reader.start()
    try:
        return await read_trail(reader, parts)
    finally:
        await reader.stop()


async def end_abandoned(
    settings: Settings, sink: KafkaSink, stop: asyncio.Event, log: logging.Logger
) -> Ended | None:
    """Send the events that end this producer's unfinished games and wait until they are
    delivered; None if ``stop`` came first. Raises KafkaError, or DeliveryFailed."""
    name, timeout_s = settings.producer_name, settings.end_abandoned_timeout_s
    reading = asyncio.create_task(_read(settings.kafka_bootstrap_servers, name, sink))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({reading, stopping}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not reading.done():
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        if stop.is_set():
            return None
        log.warning(
            "could not read the previous runs' games in time; none ended",
            extra={"producer": name, "timeout_s": timeout_s},
        )
        return Ended(0, 0)
    trail = reading.result()
    nonce = secrets.token_hex(6)
    counter = itertools.count(1)
    # Ids like the simulator's (nonce-counter), marked so they never meet its ids.
    events = trail.endings(int(time.time() * 1000), lambda: f"{nonce}-end{next(counter):x}")
    futures = [await sink.send(topic_for(e.type), e.game_id.encode(), encode(e)) for e in events]
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    if failed:
        raise DeliveryFailed(f"{failed} of {len(events)} events ending abandoned games")
    ended = Ended(len(trail.unfinished()), len(events))
    log.info(
        "ended abandoned games",
        extra={"producer": name, "games": ended.games, "events": ended.events},
    )
    return ended
