"""Kafka topic names and which event type goes to which topic."""

from __future__ import annotations

GAMES = "games"
ODDS = "odds"
BETS = "bets"
TOPICS: tuple[str, ...] = (GAMES, ODDS, BETS)
# Events that fail validation are parked here with the reason, never dropped.
DEAD_LETTER_TOPIC = "dead-letters"

_TOPIC_BY_TYPE = {"game": GAMES, "odds": ODDS, "bet": BETS}


def topic_for(event_type: str) -> str:
    """The topic that carries events of ``event_type`` (``game``, ``odds`` or ``bet``)."""
    return _TOPIC_BY_TYPE[event_type]
