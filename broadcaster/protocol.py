"""WebSocket protocol v1: client ops parsed and validated, server messages built (pure).

Client frames are one JSON object with an ``op``; server frames hold one message object
(with a ``type``) or a JSON array of them. See docs/protocol.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from broadcaster.channels import kind_of
from broadcaster.errors import (
    BadConflate,
    BadJson,
    BadMessage,
    BadResume,
    BroadcasterError,
    UnknownOp,
)

PROTOCOL = 1
MAX_CONFLATE_MS = 10_000
MAX_CHANNELS_PER_OP = 100
MAX_REF_LEN = 64
MAX_TOKEN_LEN = 8_192

Ref = str | int | None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a client stands in a channel: the epoch and the last seq it applied."""

    epoch: str
    seq: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe to channels, optionally resuming from known positions."""

    channels: tuple[str, ...]
    resume: dict[str, Position] = field(default_factory=dict)
    conflate_ms: int = 0
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop receiving channels."""

    channels: tuple[str, ...]
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Liveness check; answered with ``pong``."""

    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Auth:
    """Present a JWT; its ``sub`` may then subscribe to ``user:<sub>``."""

    token: str
    ref: Ref = None


Op = Subscribe | Unsubscribe | Ping | Auth


class ClientError(Exception):
    """A client op that cannot be processed: the error to report and the op's ref."""

    def __init__(self, error: BroadcasterError, ref: Ref = None) -> None:
        self.error = error
        self.ref = ref
        super().__init__(error.message)


def _ref(obj: dict[str, Any]) -> Ref:
    ref = obj.get("ref")
    if ref is None:
        return None
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise BadMessage("ref must be a string or an integer")
    if isinstance(ref, str) and len(ref) > MAX_REF_LEN:
        raise BadMessage(f"ref longer than {MAX_REF_LEN} characters")
    return ref


def _channels(obj: dict[str, Any]) -> tuple[str, ...]:
    chans = obj.get("channels")
    if not isinstance(chans, list) or not chans:
        raise BadMessage("channels must be a non-empty list of channel names")
    if len(chans) > MAX_CHANNELS_PER_OP:
        raise BadMessage(f"at most {MAX_CHANNELS_PER_OP} channels per op")
    out: list[str] = []
    for ch in chans:
        if not isinstance(ch, str):
            raise BadMessage("channel names are strings")
        kind_of(ch)  # raises UnknownChannel
        if ch not in out:
            out.append(ch)
    return tuple(out)


def _resume(obj: dict[str, Any], channels: tuple[str, ...]) -> dict[str, Position]:
    raw = obj.get("resume")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadResume("resume must be an object {channel: {epoch, seq}}")
    out: dict[str, Position] = {}
    for ch, pos in raw.items():
        if ch not in channels:
            raise BadResume(f"resume names {ch!r}, which this op does not subscribe")
        if not isinstance(pos, dict):
            raise BadResume(f"resume[{ch!r}] must be {{epoch, seq}}")
        epoch, seq = pos.get("epoch"), pos.get("seq")
        if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
            raise BadResume(f"resume[{ch!r}].epoch must be a non-empty string")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise BadResume(f"resume[{ch!r}].seq must be an integer >= 0")
        out[ch] = Position(epoch, seq)
    return out


def _conflate(obj: dict[str, Any]) -> int:
    value = obj.get("conflate_ms", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CONFLATE_MS:
        raise BadConflate(f"conflate_ms must be an integer in 0..{MAX_CONFLATE_MS}")
    return value


def parse(raw: bytes | bytearray | memoryview | str) -> Op:
    """One client frame as an op; raise ``ClientError`` with the code and the op's ref."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ClientError(BadJson("frame is not valid JSON")) from None
    if not isinstance(obj, dict):
        raise ClientError(BadMessage("a client frame is one JSON object"))
    ref: Ref = None
    try:
        ref = _ref(obj)
        op = obj.get("op")
        if op == "subscribe":
            channels = _channels(obj)
            return Subscribe(channels, _resume(obj, channels), _conflate(obj), ref)
        if op == "unsubscribe":
            return Unsubscribe(_channels(obj), ref)
        if op == "ping":
            return Ping(ref)
        if op == "auth":
            token = obj.get("token")
            if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LEN:
                raise BadMessage("token must be a non-empty string (a JWT)")
            return Auth(token, ref)
        if not isinstance(op, str):
            raise BadMessage("missing op")
        raise UnknownOp(f"unknown op {op[:40]!r} (subscribe, unsubscribe, ping, auth)")
    except BroadcasterError as exc:
        raise ClientError(exc, ref) from None


# --- server messages -----------------------------------------------------------------------


def welcome(heartbeat_ms: int, status: str = "live") -> bytes:
    """The first message on every connection."""
    return orjson.dumps(
        {"type": "welcome", "protocol": PROTOCOL, "heartbeat_ms": heartbeat_ms, "status": status}
    )


def subscribed(channel: str, epoch: str, seq: int, recovered: bool) -> bytes:
    """A subscription is live; the next event of ``channel`` has ``seq + 1``."""
    return orjson.dumps(
        {
            "type": "subscribed",
            "channel": channel,
            "epoch": epoch,
            "seq": seq,
            "recovered": recovered,
        }
    )


def snapshot(channel: str, epoch: str, seq: int, data: dict[str, Any]) -> bytes:
    """The channel's state reflecting exactly the events up to ``seq``."""
    return orjson.dumps(
        {"type": "snapshot", "channel": channel, "epoch": epoch, "seq": seq, "data": data}
    )


def heartbeat(positions: dict[str, int]) -> bytes:
    """Periodic liveness, with the seq of the newest message sent per channel."""
    return orjson.dumps({"type": "heartbeat", "positions": positions})


def status(state: str, reason: str | None = None) -> bytes:
    """The connection-level feed state (live or stale); in no channel."""
    return orjson.dumps({"type": "status", "state": state, "reason": reason})


def pong() -> bytes:
    """The answer to ``ping``."""
    return b'{"type":"pong"}'


def error(code: str, message: str, ref: Ref = None) -> bytes:
    """An op failed or a channel ended; the connection stays open."""
    return orjson.dumps({"type": "error", "ref": ref, "code": code, "message": message})


def mark_conflated(message: bytes) -> bytes:
    """An ``event`` message marked ``conflated: true`` (it stands for older ones it replaced)."""
    return message[:-1] + b',"conflated":true}'
