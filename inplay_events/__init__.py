"""The inplay event contract v1: schema, codec and validation shared by every service.

See ``docs/events.md`` and the design's "Event contract v1" section.
"""

from inplay_events.codec import decode, encode, to_dict
from inplay_events.errors import ContractError, InvalidEvent
from inplay_events.schema import (
    PROTOCOL_VERSION,
    AliveEvent,
    BetEvent,
    Event,
    GameEvent,
    GameKind,
    GameStatus,
    MarketKind,
    MarketStatus,
    OddsEvent,
    Score,
)
from inplay_events.topics import DEAD_LETTER_TOPIC, TOPICS, topic_for

__all__ = [
    "DEAD_LETTER_TOPIC",
    "PROTOCOL_VERSION",
    "TOPICS",
    "AliveEvent",
    "BetEvent",
    "ContractError",
    "Event",
    "GameEvent",
    "GameKind",
    "GameStatus",
    "InvalidEvent",
    "MarketKind",
    "MarketStatus",
    "OddsEvent",
    "Score",
    "decode",
    "encode",
    "to_dict",
    "topic_for",
]
