"""Channel names and which channels an event belongs to (pure)."""

from __future__ import annotations

import re
from enum import StrEnum

from broadcaster.errors import UnknownChannel
from inplay_events import BetEvent, Event, GameEvent, OddsEvent

GAMES = "games"
MAX_NAME = 160
# Ids follow the contract (1..128 characters); control characters never make a channel.
_NAMED = re.compile(r"^(game|league|user):([^\x00-\x1f\x7f]{1,128})$")


class Kind(StrEnum):
    """The four kinds of channel; each has its own state shape."""

    GAMES = "games"
    GAME = "game"
    LEAGUE = "league"
    USER = "user"


def kind_of(channel: str) -> Kind:
    """The kind of a channel name; raise ``UnknownChannel`` for anything else."""
    if channel == GAMES:
        return Kind.GAMES
    if isinstance(channel, str) and len(channel) <= MAX_NAME:
        match = _NAMED.match(channel)
        if match:
            return Kind(match.group(1))
    raise UnknownChannel(f"unknown channel {channel!r}", channel=str(channel)[:MAX_NAME])


def user_account(channel: str) -> str | None:
    """The account of a ``user:<account>`` channel, else None."""
    return channel[5:] if channel.startswith("user:") else None


def game_channel(game_id: str) -> str:
    """The channel of one game."""
    return f"game:{game_id}"


def channels_for(event: Event) -> list[str]:
    """The channels an event is published in, in a fixed order.

    Odds only reach ``game:<id>``: the games and league states hold game objects, not markets.
    Bets only reach ``user:<account>``: a bet names its account, so it is private.
    """
    if isinstance(event, GameEvent):
        return [GAMES, f"league:{event.league}", game_channel(event.game_id)]
    if isinstance(event, OddsEvent):
        return [game_channel(event.game_id)]
    if isinstance(event, BetEvent):
        return [f"user:{event.account_id}"]
    return []  # alive beacons belong to no channel (feed safety reads them separately)
