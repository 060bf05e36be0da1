"""The opaque cursor of the games list: where the previous page ended, in list order."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Position(NamedTuple):
    """The sort key of the last game of a page."""

    start_time: datetime
    game_id: str


def encode(start_time: datetime, game_id: str) -> str:
    """The cursor pointing after the game at (start_time, game_id)."""
    micros = (start_time - _EPOCH) // timedelta(microseconds=1)
    raw = orjson.dumps([micros, game_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str) -> Position:
    """The position a cursor points after; ``ValueError`` when this API did not make it."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        micros, game_id = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(micros, int) or not isinstance(game_id, str):
            raise TypeError
        # PostgreSQL text cannot hold NUL: no game has such an id (and psycopg would refuse it).
        if "\x00" in game_id:
            raise TypeError
        return Position(_EPOCH + timedelta(microseconds=micros), game_id)
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error, OverflowError):
        raise ValueError("not a cursor this API returned") from None
