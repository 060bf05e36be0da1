"""Redis key and pub/sub names shared by ingest and gateways (one place, so both agree)."""

from __future__ import annotations

PREFIX = "fo:"
INGEST_HEARTBEAT = PREFIX + "hb:ingest"
# JSON {"lag_ms_p50", "lag_ms_p99", "lag_ms_max"}: ingest's last report window, event time
# -> applied in Redis (the same figures as its log line).
INGEST_LAG = PREFIX + "lag:ingest"


def meta(channel: str) -> str:
    """Hash {epoch, seq}: the channel's current epoch and last assigned seq."""
    return f"{PREFIX}m:{channel}"


def state(channel: str) -> str:
    """The channel's state: a hash (games, league, game channels) or a list (user channels)."""
    return f"{PREFIX}s:{channel}"


def history(channel: str) -> str:
    """Stream of the channel's recent publications; entry id ``<seq>-0``."""
    return f"{PREFIX}h:{channel}"


def pubsub(channel: str) -> str:
    """The pub/sub channel gateways subscribe to."""
    return f"{PREFIX}p:{channel}"


PUBSUB_PREFIX = pubsub("")


def applied(group: str) -> str:
    """Hash {``<topic>:<partition>``: offset}: how far Redis holds the effects of each
    partition, for one ingest consumer group (the records before the offset are applied)."""
    return f"{PREFIX}applied:{group}"


def applied_field(topic: str, partition: int) -> str:
    """A partition's field in the ``applied`` hash."""
    return f"{topic}:{partition}"
