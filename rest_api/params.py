"""Parsing and validation of query parameters: pure functions of strings, no I/O.

Each public parser raises :class:`BadParameter` naming the parameter, so a bad request is a
400 that says what to fix, never a 500. The ``Param`` objects describe the same parameters
for the OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from rest_api.errors import BadParameter

GAME_STATUSES = ("scheduled", "live", "suspended", "finished", "settled", "cancelled")
MAX_TEXT = 200


@dataclass(frozen=True)
class Param:
    """One documented parameter of an operation (for the OpenAPI document)."""

    name: str
    location: str  # "query" | "path"
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Interval:
    """A candle/volume bucket width: its name in URLs, its length, its default and widest span."""

    name: str
    width: timedelta
    default_span: timedelta
    max_span: timedelta


INTERVALS: dict[str, Interval] = {
    "1m": Interval("1m", timedelta(minutes=1), timedelta(hours=3), timedelta(hours=24)),
    "5m": Interval("5m", timedelta(minutes=5), timedelta(hours=12), timedelta(days=7)),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def text(query: Mapping[str, str], name: str) -> str | None:
    """An optional free-text filter (exact match), at most ``MAX_TEXT`` characters."""
    value = query.get(name)
    if value is None:
        return None
    if not value or len(value) > MAX_TEXT:
        raise BadParameter(name, f"must be 1 to {MAX_TEXT} characters")
    return value


def choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional value that must be one of ``allowed``."""
    value = query.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise BadParameter(name, f"must be one of {', '.join(allowed)} (got {value[:40]!r})")
    return value


def limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    """Page size: an integer from 1 to ``maximum``."""
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter("limit", f"must be an integer from 1 to {maximum}") from None
    if not 1 <= value <= maximum:
        raise BadParameter("limit", f"must be an integer from 1 to {maximum} (got {value})")
    return value


def identifier(value: str, name: str) -> str:
    """A path id: non-empty and short (anything longer cannot exist)."""
    if not value or len(value) > MAX_TEXT:
        raise BadParameter(name, f"must be 1 to {MAX_TEXT} characters")
    return value


def encode_cursor(start_time: datetime, game_id: str) -> str:
    """Opaque cursor after the game at (start_time, game_id) in list order."""
    micros = (start_time - _EPOCH) // timedelta(microseconds=1)
    raw = orjson.dumps([micros, game_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(query: Mapping[str, str]) -> tuple[datetime, str] | None:
    """The (start_time, game_id) position a ``cursor`` parameter points after, if any."""
    raw = query.get("cursor")
    if raw is None:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        micros, game_id = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(micros, int) or not isinstance(game_id, str):
            raise TypeError
        return _EPOCH + timedelta(microseconds=micros), game_id
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, OverflowError):
        raise BadParameter("cursor", "not a cursor this API returned") from None


def interval(query: Mapping[str, str]) -> Interval:
    """The bucket width; required, one of ``INTERVALS``."""
    raw = query.get("interval")
    if raw is None:
        raise BadParameter("interval", f"required, one of {', '.join(INTERVALS)}")
    try:
        return INTERVALS[raw]
    except KeyError:
        raise BadParameter(
            "interval", f"must be one of {', '.join(INTERVALS)} (got {raw[:40]!r})"
        ) from None


_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def timestamp(query: Mapping[str, str], name: str) -> datetime | None:
    """An optional instant: ISO 8601 (no zone means UTC) or integer epoch milliseconds."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if raw.lstrip("-").isdigit():
            parsed = _EPOCH + timedelta(milliseconds=int(raw))
        else:
            parsed = datetime.fromisoformat(raw)
    except (ValueError, OverflowError):
        raise BadParameter(
            name, "must be an ISO 8601 time or epoch milliseconds (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    # Far enough from datetime's limits that default spans and bucket flooring stay valid.
    if not _EARLIEST <= parsed <= _LATEST:
        raise BadParameter(name, "must be between the years 1900 and 9000")
    return parsed


def floor_to(instant: datetime, width: timedelta) -> datetime:
    """The start of the epoch-aligned bucket of ``width`` holding ``instant``."""
    return instant - (instant - _EPOCH) % width


def time_range(
    query: Mapping[str, str], every: Interval, now: datetime
) -> tuple[datetime, datetime]:
    """Buckets to return, [from, to): from floored to a bucket start; defaults end at now."""
    end = timestamp(query, "to")
    start = timestamp(query, "from")
    if end is None:
        # The end of the current bucket: the one still filling is included, and every request
        # within a bucket asks the same question (cacheable, same ETag).
        end = (
            floor_to(now, every.width) + every.width
            if start is None
            else start + every.default_span
        )
    if start is None:
        start = end - every.default_span
    if start > end:
        raise BadParameter("from", "must not be after to")
    start = floor_to(start, every.width)
    if end - start > every.max_span:
        raise BadParameter(
            "from",
            f"range too wide: at most {every.max_span} for interval {every.name}; "
            "move from closer to to",
        )
    return start, end


def search_query(query: Mapping[str, str]) -> str:
    """The search text: required, 1 to 100 characters after trimming."""
    raw = (query.get("q") or "").strip()
    if not raw or len(raw) > 100:
        raise BadParameter("q", "required, 1 to 100 characters")
    return raw


# Documented parameters, shared by the routes that take them.
LIMIT_GAMES = Param(
    "limit", "query", "Page size.", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
)
LIMIT_SEARCH = Param(
    "limit",
    "query",
    "Most results per group.",
    {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
)
CURSOR = Param("cursor", "query", "Opaque cursor from a previous page's next_cursor.")
STATUS = Param(
    "status", "query", "Only games in this status.", {"type": "string", "enum": list(GAME_STATUSES)}
)
LEAGUE = Param("league", "query", "Only games of this league (exact name).")
SPORT = Param("sport", "query", "Only games of this sport (exact name).")
GAME_ID = Param("game_id", "path", "Game id.", required=True)
MARKET_ID = Param("market_id", "path", "Market id.", required=True)
INTERVAL = Param(
    "interval",
    "query",
    "Bucket width.",
    {"type": "string", "enum": list(INTERVALS)},
    required=True,
)
_TIME_SCHEMA: dict[str, Any] = {
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]
}
FROM = Param(
    "from",
    "query",
    "First bucket (ISO 8601 or epoch ms, floored to a bucket start); default: to minus 3 h "
    "(1m) or 12 h (5m). At most 24 h (1m) or 7 days (5m) before to.",
    _TIME_SCHEMA,
)
TO = Param(
    "to",
    "query",
    "End of the range, exclusive (ISO 8601 or epoch ms); default: the end of the current "
    "bucket, or from plus the default span when from is given.",
    _TIME_SCHEMA,
)
Q = Param(
    "q",
    "query",
    "What the user typed: word prefixes, common abbreviations and small typos match.",
    {"type": "string", "minLength": 1, "maxLength": 100},
    required=True,
)
