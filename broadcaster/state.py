"""The state model of each channel kind and how an event changes it (pure).

Ingest writes the same objects into Redis (see ``ingest/redis_scripts.py``); clients and
tests rebuild state from a snapshot plus deltas with ``apply``.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from broadcaster.channels import Kind, kind_of

# Fields of a game event that make up the game object; the rest (kind, results, ...) are
# about the event, not the game.
GAME_FIELDS = (
    "game_id",
    "league",
    "sport",
    "home",
    "away",
    "start_time",
    "status",
    "score",
    "period",
    "clock",
)
MARKET_FIELDS = ("kind", "line", "status", "prices")
BET_FIELDS = ("bet_id", "game_id", "market_id", "selection_id", "stake", "price", "ts")
# A user channel keeps this many of the account's most recent bets by default.
DEFAULT_USER_BETS = 50
# A game in one of these statuses has left the games and league states (not its own).
ENDED_STATUSES = frozenset({"settled", "cancelled"})


def game_object(event: dict[str, Any]) -> dict[str, Any]:
    """The game fields a game event carries (absent optional fields stay absent)."""
    return {k: event[k] for k in GAME_FIELDS if k in event}


def market_object(event: dict[str, Any]) -> dict[str, Any]:
    """The market state an odds event carries; ``line`` is null for match_winner."""
    return {k: event.get(k) for k in MARKET_FIELDS}


def bet_object(event: dict[str, Any]) -> dict[str, Any]:
    """The bet as a user channel's state lists it."""
    return {k: event[k] for k in BET_FIELDS if k in event}


def ended(event: dict[str, Any]) -> bool:
    """A game event that takes its game out of the ``games`` and ``league:`` states.

    Without this those states would hold every game ever played. The game's own channel
    keeps it: that is where the result is read.
    """
    return event.get("type") == "game" and event.get("status") in ENDED_STATUSES


def empty(channel: str) -> dict[str, Any]:
    """The state of a channel that has seen no event."""
    kind = kind_of(channel)
    if kind is Kind.GAME:
        return {"game": None, "markets": {}}
    if kind is Kind.USER:
        return {"bets": []}
    return {"games": {}}


def apply(
    channel: str,
    state: dict[str, Any],
    event: dict[str, Any],
    user_bets: int = DEFAULT_USER_BETS,
) -> dict[str, Any]:
    """The channel state after ``event`` (a contract event dict); ``state`` is not changed."""
    kind = kind_of(channel)
    new = copy.deepcopy(state)
    etype = event.get("type")
    if kind is Kind.GAME:
        if etype == "game":
            new["game"] = {**(new.get("game") or {}), **game_object(event)}
        elif etype == "odds":
            new["markets"][event["market_id"]] = market_object(event)
    elif kind in (Kind.GAMES, Kind.LEAGUE):
        if etype == "game":
            gid = event["game_id"]
            if ended(event):
                new["games"].pop(gid, None)
            else:
                new["games"][gid] = {**new["games"].get(gid, {}), **game_object(event)}
    elif kind is Kind.USER and etype == "bet":
        new["bets"] = [*new["bets"], bet_object(event)][-user_bets:]
    return new


def from_redis(kind: Kind, items: list[bytes]) -> dict[str, Any]:
    """A snapshot's ``data`` from a channel's raw Redis state (HGETALL pairs or a bet list)."""
    if kind is Kind.USER:
        return {"bets": [orjson.loads(x) for x in items]}
    pairs = dict(zip(items[::2], items[1::2], strict=True))
    if kind is Kind.GAME:
        game = pairs.pop(b"game", None)
        return {
            "game": orjson.loads(game) if game else None,
            "markets": {k[2:].decode(): orjson.loads(v) for k, v in pairs.items()},
        }
    return {"games": {k.decode(): orjson.loads(v) for k, v in pairs.items()}}
