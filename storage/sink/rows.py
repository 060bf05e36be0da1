"""The sink's rows (one NamedTuple per table) and Kafka records → rows: validation, per-batch
dedupe, dead letters. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from inplay_events import BetEvent, GameEvent, InvalidEvent, OddsEvent, decode
from inplay_events.deadletter import dead_letter
from storage.sink import rollups
from storage.sink.columns import DurationMs, Float8, Int4, Int8, Json, Text, TimeMs

# Storable ranges: a value the contract allows but a column cannot hold would fail the whole
# transaction on every retry and stall the sink, so such an event is dead-lettered instead.
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_INT4 = 2**31 - 1
MAX_SEQ = 2**63 - 1
# Bounded well below bigint so that sums over a bucket cannot overflow either.
MAX_STAKE = 10**12


# One row type per target table, in the column order of its staging table: statements.py
# derives the column lists, staging types and conversions from the fields' kinds.
class Tick(NamedTuple):
    """One selection's price in one odds event (odds_ticks)."""

    ts: TimeMs
    event_id: Text
    selection_id: Text
    game_id: Text
    market_id: Text
    seq: Int8
    market_status: Text
    price: Float8


class GameRow(NamedTuple):
    """One game event as received (game_events)."""

    ts: TimeMs
    event_id: Text
    game_id: Text
    seq: Int8
    kind: Text
    status: Text
    score_home: Int4
    score_away: Int4
    period: Int4 | None
    clock: Int4 | None
    payload: Json


class BetRow(NamedTuple):
    """One bet (bets)."""

    ts: TimeMs
    event_id: Text
    bet_id: Text
    game_id: Text
    account_id: Text
    market_id: Text
    selection_id: Text
    stake: Int8
    price: Float8


class GameState(NamedTuple):
    """A game's state after its newest event (games)."""

    game_id: Text
    league: Text
    sport: Text
    home: Text
    away: Text
    start_time: TimeMs
    status: Text
    score_home: Int4
    score_away: Int4
    period: Int4 | None
    clock: Int4 | None
    results: Json | None
    last_seq: Int8
    updated_at: TimeMs


class MarketState(NamedTuple):
    """A market's state after its newest odds event (markets)."""

    market_id: Text
    game_id: Text
    kind: Text
    line: Float8 | None
    status: Text
    prices: Json
    last_seq: Int8
    updated_at: TimeMs


class CandleRow(NamedTuple):
    """A partial candle, merged into the stored one (candles)."""

    width: DurationMs
    market_id: Text
    selection_id: Text
    bucket: TimeMs
    open: Float8
    high: Float8
    low: Float8
    close: Float8
    open_ts: TimeMs
    open_seq: Int8
    close_ts: TimeMs
    close_seq: Int8
    ticks: Int4


class VolumeRow(NamedTuple):
    """A partial bet volume, added to the stored one (bet_volume)."""

    width: DurationMs
    market_id: Text
    selection_id: Text
    bucket: TimeMs
    bets: Int4
    stake: Int8
    payout: Float8


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
    # The event of the highest seq per market and per game (the first of equal seqs); their
    # state rows are built once, at the end, not once per event.
    newest_odds: dict[str, OddsEvent] = {}
    newest_game: dict[str, GameEvent] = {}
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
                event.id,
                event.game_id,
                event.market_id,
                event.ts,
                event.seq,
                event.status,
            )
            # Ticks and bets are built positionally: keywords cost twice as much, per event.
            for sel, price in event.prices.items():
                ticks.append(Tick(ts, eid, sel, gid, mid, seq, status, price))
            old = newest_odds.get(mid)
            if old is None or old.seq < seq:
                newest_odds[mid] = event
        elif isinstance(event, BetEvent):
            bet_rows.append(
                BetRow(
                    event.ts,
                    event.id,
                    event.bet_id,
                    event.game_id,
                    event.account_id,
                    event.market_id,
                    event.selection_id,
                    event.stake,
                    event.price,
                )
            )
        else:
            assert isinstance(event, GameEvent)
            assert rec.value is not None
            game_rows.append(
                GameRow(
                    ts=event.ts,
                    event_id=event.id,
                    game_id=event.game_id,
                    seq=event.seq,
                    kind=event.kind,
                    status=event.status,
                    score_home=event.score.home,
                    score_away=event.score.away,
                    period=event.period,
                    clock=event.clock,
                    payload=rec.value.decode(),
                )
            )
            old_game = newest_game.get(event.game_id)
            if old_game is None or old_game.seq < event.seq:
                newest_game[event.game_id] = event
    out.markets.update((mid, _market_state(e)) for mid, e in newest_odds.items())
    out.games.update((gid, _game_state(e)) for gid, e in newest_game.items())
    return out


def _market_state(event: OddsEvent) -> MarketState:
    return MarketState(
        market_id=event.market_id,
        game_id=event.game_id,
        kind=event.kind,
        line=event.line,
        status=event.status,
        prices=orjson.dumps(event.prices).decode(),
        last_seq=event.seq,
        updated_at=event.ts,
    )


def _game_state(event: GameEvent) -> GameState:
    return GameState(
        game_id=event.game_id,
        league=event.league,
        sport=event.sport,
        home=event.home,
        away=event.away,
        start_time=event.start_time,
        status=event.status,
        score_home=event.score.home,
        score_away=event.score.away,
        period=event.period,
        clock=event.clock,
        results=None if event.results is None else orjson.dumps(event.results).decode(),
        last_seq=event.seq,
        updated_at=event.ts,
    )


# Sorted by key: two sinks touching the same rollup rows lock them in the same order.
def candle_rows(candles: Mapping[rollups.Key, rollups.Candle]) -> list[CandleRow]:
    """The rows of a batch's partial candles, in key order."""
    return [
        CandleRow(
            width,
            market_id,
            selection_id,
            bucket,
            c.open,
            c.high,
            c.low,
            c.close,
            c.open_ts,
            c.open_seq,
            c.close_ts,
            c.close_seq,
            c.ticks,
        )
        for (width, market_id, selection_id, bucket), c in sorted(candles.items())
    ]


def volume_rows(volumes: Mapping[rollups.Key, rollups.Volume]) -> list[VolumeRow]:
    """The rows of a batch's partial bet volumes, in key order."""
    return [
        VolumeRow(width, market_id, selection_id, bucket, v.bets, v.stake, v.payout)
        for (width, market_id, selection_id, bucket), v in sorted(volumes.items())
    ]
