"""Kafka records → database rows: validation, per-batch dedupe, dead letters. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from inplay_events import BetEvent, GameEvent, InvalidEvent, OddsEvent, decode
from inplay_events.deadletter import dead_letter

# Storable ranges: a value the contract allows but a column cannot hold would fail the whole
# transaction on every retry and stall the sink, so such an event is dead-lettered instead.
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_INT4 = 2**31 - 1
MAX_SEQ = 2**63 - 1
# Bounded well below bigint so that sums over a bucket cannot overflow either.
MAX_STAKE = 10**12

# Row layouts, in the column order of the staging tables (writer.py).
Tick = tuple[int, str, str, str, str, int, str, float]
GameRow = tuple[int, str, str, int, str, str, int, int, int | None, int | None, str]
BetRow = tuple[int, str, str, str, str, str, str, int, float]
GameState = tuple[
    str, str, str, str, str, int, str, int, int, int | None, int | None, str | None, int, int
]
MarketState = tuple[str, str, str, float | None, str, str, int, int]


class KafkaRecord(Protocol):
    """What the sink reads of a consumer record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be stored, with the reason and where it came from."""

    error: InvalidEvent
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    def encode(self) -> bytes:
        """The dead-letter record's value (the shape every consumer writes)."""
        return dead_letter(
            "storage-sink", self.error, self.topic, self.partition, self.offset, self.value
        )


@dataclass(slots=True)
class BatchRows:
    """Everything one transaction writes, built from one ``getmany`` result."""

    ticks: list[Tick] = field(default_factory=list)
    game_events: list[GameRow] = field(default_factory=list)
    bets: list[BetRow] = field(default_factory=list)
    # Latest state per key within the batch (highest seq); the database keeps the newest overall.
    games: dict[str, GameState] = field(default_factory=dict)
    markets: dict[str, MarketState] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    alive: int = 0
    duplicates: int = 0
    records: int = 0
    # (topic, partition) -> first offset in the batch and the offset to resume from.
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Valid game, odds and bet events in the batch (duplicates within it counted once)."""
        return self.records - len(self.dead) - self.alive - self.duplicates


def _check_storable(event: GameEvent | OddsEvent | BetEvent) -> None:
    if event.ts > MAX_TS_MS:
        raise InvalidEvent("ts", f"{event.ts} is past year 9999, cannot be stored")
    if event.seq > MAX_SEQ:
        raise InvalidEvent("seq", f"{event.seq} does not fit a 64-bit integer")
    if isinstance(event, BetEvent):
        if event.stake > MAX_STAKE:
            raise InvalidEvent("stake", f"{event.stake} is above the storable {MAX_STAKE}")
    elif isinstance(event, GameEvent):
        if event.start_time > MAX_TS_MS:
            raise InvalidEvent("start_time", f"{event.start_time} is past year 9999")
        for name, value in (
            ("score.home", event.score.home),
            ("score.away", event.score.away),
            ("period", event.period),
            ("clock", event.clock),
        ):
            if value is not None and value > MAX_INT4:
                raise InvalidEvent(name, f"{value} does not fit a 32-bit integer")


def _decode(value: bytes | None) -> Any:
    if value is None:
        raise InvalidEvent("", "empty record (no value)")
    # PostgreSQL text and jsonb cannot hold NUL, which JSON can carry as an escape.
    if b"\\u0000" in value:
        raise InvalidEvent("", "contains a NUL character (\\u0000), which cannot be stored")
    return decode(value)


def build(records: Iterable[KafkaRecord]) -> BatchRows:
    """Classify a batch: rows to write, dead letters, skipped beacons, offsets to commit."""
    out = BatchRows()
    seen: set[str] = set()
    ticks, game_rows, bet_rows = out.ticks, out.game_events, out.bets
    games, markets = out.games, out.markets
    first, nxt = out.first_offsets, out.next_offsets
    for rec in records:
        out.records += 1
        tp = (rec.topic, rec.partition)
        if tp not in first:
            first[tp] = rec.offset
        nxt[tp] = rec.offset + 1
        try:
            event = _decode(rec.value)
            if event.type == "alive":
                out.alive += 1
                continue
            _check_storable(event)
        except InvalidEvent as exc:
            out.dead.append(
                DeadLetter(exc, rec.topic, rec.partition, rec.offset, rec.key, rec.value)
            )
            continue
        if event.id in seen:
            out.duplicates += 1
            continue
        seen.add(event.id)
        if isinstance(event, OddsEvent):
            eid, gid, mid, ts, seq, status = (
                event.id, event.game_id, event.market_id, event.ts, event.seq, event.status,
            )  # fmt: skip
            for sel, price in event.prices.items():
                ticks.append((ts, eid, sel, gid, mid, seq, status, price))
            old = markets.get(mid)
            if old is None or old[6] < seq:
                prices = orjson.dumps(event.prices).decode()
                markets[mid] = (mid, gid, event.kind, event.line, status, prices, seq, ts)
        elif isinstance(event, BetEvent):
            bet_rows.append(
                (event.ts, event.id, event.bet_id, event.game_id, event.account_id,
                 event.market_id, event.selection_id, event.stake, event.price)
            )  # fmt: skip
        else:
            assert isinstance(event, GameEvent)
            assert rec.value is not None
            payload = rec.value.decode()
            score = event.score
            game_rows.append(
                (event.ts, event.id, event.game_id, event.seq, event.kind, event.status,
                 score.home, score.away, event.period, event.clock, payload)
            )  # fmt: skip
            old_game = games.get(event.game_id)
            if old_game is None or old_game[12] < event.seq:
                results = None if event.results is None else orjson.dumps(event.results).decode()
                games[event.game_id] = (
                    event.game_id, event.league, event.sport, event.home, event.away,
                    event.start_time, event.status, score.home, score.away, event.period,
                    event.clock, results, event.seq, event.ts,
                )  # fmt: skip
    return out
