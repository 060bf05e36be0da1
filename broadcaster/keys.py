"""The Redis key scheme and the channel numbering rule, shared by ingest and gateways.

A channel's numbering is its ``meta`` hash: the epoch and the last seq. Whoever finds it
gone (a new channel, or Redis lost it) begins a new epoch (``new_epoch``) with an empty
history, so clients see the seqs restart and no history of an older numbering is replayed.
The scripts do it with the functions of ``redis_lua/numbering.lua``, the Lua half of this
rule; numbering a gateway begins for a subscriber is tentative (``TENTATIVE_TTL_MS``).
"""

from __future__ import annotations

import secrets
import time

PREFIX = "fo:"
INGEST_HEARTBEAT = PREFIX + "hb:ingest"
# JSON {"lag_ms_p50", "lag_ms_p99", "lag_ms_max"}: ingest's last report window, event time
# -> applied in Redis (the same figures as its log line).
INGEST_LAG = PREFIX + "lag:ingest"
# How long numbering a gateway began for a channel nothing has published in lives: a
# subscriber alone must not create keys that live forever. Ingest's first publication
# makes it permanent, same epoch.
TENTATIVE_TTL_MS = 600_000


def new_epoch() -> str:
    """A fresh epoch id: time-ordered hex plus randomness, never reused."""
    return f"{int(time.time() * 1000):x}{secrets.token_hex(3)}"


def meta(channel: str) -> str:
    """Hash {epoch, seq, born | tentative}: the channel's epoch and last assigned seq."""
    return f"{PREFIX}m:{channel}"


def state(channel: str) -> str:
    """The channel's state: a hash (games, league, game channels) or a list (user channels)."""
    return f"{PREFIX}s:{channel}"


def history(channel: str) -> str:
    """Stream of the channel's recent publications; entry id ``<seq>-0``."""
    return f"{PREFIX}h:{channel}"


def channel_keys(channel: str) -> tuple[str, str, str]:
    """A channel's keys in the order the scripts take them: numbering, state, history."""
    return meta(channel), state(channel), history(channel)


def pubsub(channel: str) -> str:
    """The pub/sub channel gateways subscribe to."""
    return f"{PREFIX}p:{channel}"


PUBSUB_PREFIX = pubsub("")


def dedupe(event_id: str) -> str:
    """String with a TTL: the event was applied (a repeat is a duplicate)."""
    return f"{PREFIX}d:{event_id}"


def last_seq(game_id: str, event_type: str) -> str:
    """String with a TTL: the newest game seq applied for one game and event type."""
    return f"{PREFIX}g:{game_id}:{event_type}"


def applied(group: str) -> str:
    """Hash {``<topic>:<partition>``: offset}: how far Redis holds the effects of each
    partition, for one ingest consumer group (the records before the offset are applied)."""
    return f"{PREFIX}applied:{group}"


def applied_field(topic: str, partition: int) -> str:
    """A partition's field in the ``applied`` hash."""
    return f"{topic}:{partition}"
