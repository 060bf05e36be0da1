r"""The wire form of one channel publication, shared by ingest (writes) and gateways (reads).

Pub/sub payloads and history entries are ``<header>\n<message>``: the header is the JSON
array ``[epoch, seq, ts, conflation_key, published_ms]`` (``published_ms``: the wall clock
when ingest sent it to Redis) and the message is the ready-to-send ``event`` object.
Gateways read the header (small) and forward the message bytes untouched, so a publication
is JSON-encoded once, in Redis, for every gateway and client.
"""

from __future__ import annotations

from typing import Any

import orjson


def split(payload: bytes) -> tuple[str, int, int, str | None, int, bytes]:
    """(epoch, seq, ts, conflation key, published ms, message bytes) of a payload."""
    header, msg = payload.split(b"\n", 1)
    epoch, seq, ts, ckey, published = orjson.loads(header)
    return epoch, seq, ts, ckey, published, msg


def header_middle(ts: int, ckey: str | None) -> bytes:
    """The header after epoch and seq, before published_ms (known before Redis assigns seq)."""
    return b"," + str(ts).encode() + b"," + orjson.dumps(ckey) + b","


def event_message(channel: str, seq: int, data: dict[str, Any]) -> bytes:
    """An ``event`` message, as clients receive it (used by tests; ingest builds it in Lua)."""
    return orjson.dumps({"type": "event", "channel": channel, "seq": seq, "data": data})
