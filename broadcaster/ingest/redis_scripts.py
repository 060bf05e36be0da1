"""A batch of events packed into one call of ``apply.lua`` (KEYS and ARGV), and its answers.

Per event, in one atomic step: drop it if its id was seen (duplicate) or its game seq is not
newer than the last applied on the same topic (stale); else, for every channel it belongs
to, update the state, take the next seq (a new epoch, and an empty history, when the
channel's metadata is gone), append to the bounded history and PUBLISH.

Staleness is judged per (game, event type): the three topics are consumed independently, so
events of one game are ordered within a topic but may interleave differently across topics.

A game that settles or is cancelled leaves the ``games`` and ``league:`` states (the event
saying so is still published there, so clients drop it too), and its ``game:<id>`` keys get
an expiry: nothing in Redis grows with the number of games ever played.

Every call also carries the partitions its events came from, with how far Redis must already
hold each one (its mark in ``keys.applied``) and how far it holds them after the call. A mark
that is missing or lower means Redis lost what ingest applied (an empty restart, a flush, an
older copy): the call then applies nothing and answers ``[LOST]``, so nothing newer lands
on a Redis that must first be rebuilt. A *quiet* call (rebuilding) changes state, dedupe and
numbering as usual but writes no history and publishes nothing; a channel whose numbering
began before the rebuild (``born``, Redis time) gets a new epoch first.

Each event's channel operations travel as one JSON argument, ``[[channel, op, field], ...]``,
naming its channels by their number in the call, whose keys come once each in KEYS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from broadcaster import keys, publication, state
from broadcaster.channels import channels_for
from broadcaster.redis_lua import ApplyArgs
from inplay_events import BetEvent, Event, GameEvent, OddsEvent, to_dict

APPLIED, DUPLICATE, STALE = 0, 1, 2
# The whole answer of a call that applied nothing because Redis lost a partition's mark.
LOST = -1


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    """History bounds and retention passed to every script call."""

    history_maxlen: int
    history_ttl_ms: int
    dedupe_ttl_ms: int
    user_bets: int
    # How long a settled or cancelled game's channel keys live after it ended.
    ended_ttl_ms: int = 3_600_000
    # How long a user channel's keys live after the account's last bet.
    user_ttl_ms: int = 86_400_000


@dataclass(frozen=True, slots=True)
class Mark:
    """A partition's mark in a call: Redis must hold it at least ``at_least`` (else the call
    is refused as LOST) and holds it through ``upto`` afterwards."""

    field: str
    at_least: int
    upto: int


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """The KEYS and ARGV of one script call."""

    keys: list[str]
    args: list[Any]


def channel_ops(event: Event, data: dict[str, Any]) -> tuple[bytes, list[tuple[str, str, str]]]:
    """What ``event`` (``data`` is its dict) writes into the states, and per channel it
    belongs to the (channel, op, field) doing it."""
    chans = channels_for(event)
    if isinstance(event, GameEvent):
        ended = state.ended(data)
        # The game channel keeps an ended game (its result lives there) for a while.
        ops = [
            (ch, "ended" if ended else "live", "game")
            if ch.startswith("game:")
            else (ch, "drop" if ended else "merge", event.game_id)
            for ch in chans
        ]
        return orjson.dumps(state.game_object(data)), ops
    if isinstance(event, OddsEvent):
        field = "m:" + event.market_id
        return orjson.dumps(state.market_object(data)), [(ch, "set", field) for ch in chans]
    if isinstance(event, BetEvent):
        return orjson.dumps(state.bet_object(data)), [(ch, "push", "") for ch in chans]
    return b"", []


def event_call(event: Event, numbers: dict[str, int]) -> tuple[tuple[str, str], tuple[Any, ...]]:
    """An event's KEYS (dedupe, last seq) and its ``redis_lua.EventArgs``; channels new to
    the call get the next numbers in ``numbers``."""
    data = to_dict(event)
    value, ops = channel_ops(event, data)
    encoded = [(numbers.setdefault(ch, len(numbers) + 1), op, f) for ch, op, f in ops]
    ckey = event.market_id if isinstance(event, OddsEvent) else None
    game_id, seq = getattr(event, "game_id", ""), getattr(event, "seq", 0)
    header = publication.header_middle(event.ts, ckey)
    # A plain tuple in EventArgs's order: building the NamedTuple costs 5% of the packing.
    args = (seq, header, orjson.dumps(data), value, orjson.dumps(encoded))
    return (keys.dedupe(event.id), keys.last_seq(game_id, event.type)), args


def batch_call(
    events: list[Event],
    epoch: str,
    config: ApplyConfig,
    *,
    quiet_since: int | None = None,
    marks_key: str = "",
    marks: list[Mark] | None = None,
) -> ScriptCall:
    """The script call applying ``events`` in order, checking and then raising the ``marks``
    in ``marks_key``. With ``quiet_since`` (a rebuild's start, Redis time in ms) state only:
    no history, no PUBLISH, numbering older than it renewed."""
    call_keys: list[str] = [marks_key]
    args: list[Any] = []
    # Channel -> its number in the call (from 1): where its keys come in KEYS.
    numbers: dict[str, int] = {}
    for event in events:
        ekeys, eargs = event_call(event, numbers)
        call_keys += ekeys
        args += eargs
    fixed = ApplyArgs(
        candidate_epoch=epoch,
        published_ms=int(time.time() * 1000),
        history_maxlen=config.history_maxlen,
        history_ttl_ms=config.history_ttl_ms,
        dedupe_ttl_ms=config.dedupe_ttl_ms,
        user_bets=config.user_bets,
        ended_ttl_ms=config.ended_ttl_ms,
        user_ttl_ms=config.user_ttl_ms,
        quiet="0" if quiet_since is None else "1",
        quiet_since=quiet_since or 0,
        marks=orjson.dumps([(m.field, str(m.at_least), str(m.upto)) for m in marks or []]),
        channels=orjson.dumps([(keys.pubsub(ch), orjson.dumps(ch).decode()) for ch in numbers]),
        event_count=len(events),
    )
    for ch in numbers:
        call_keys += keys.channel_keys(ch)
    args[:0] = fixed
    return ScriptCall(call_keys, args)
