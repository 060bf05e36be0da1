"""The buckets a candle or volume request asks for: its interval, from and to, and their rules.

Every default and limit lives in ``INTERVALS``; the parameters' documentation is written from
it, and ``resolve`` applies it (pure, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from starlette.requests import Request

from rest_api import params
from rest_api.bodies import IntervalName

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Interval:
    """A bucket width: its name in URLs, its length, its default and widest span."""

    name: IntervalName
    width: timedelta
    default_span: timedelta
    max_span: timedelta


# bodies.IntervalName must name the same intervals (a test checks it).
INTERVALS: dict[str, Interval] = {
    i.name: i
    for i in (
        Interval("1m", timedelta(minutes=1), timedelta(hours=3), timedelta(hours=24)),
        Interval("5m", timedelta(minutes=5), timedelta(hours=12), timedelta(days=7)),
    )
}


def span_text(span: timedelta) -> str:
    """A span as people write it: "90 min", "3 h", "7 days"."""
    if span >= timedelta(days=2) and span % timedelta(days=1) == timedelta(0):
        return f"{span.days} days"
    if span % timedelta(hours=1) == timedelta(0):
        return f"{span // timedelta(hours=1)} h"
    return f"{span // timedelta(minutes=1)} min"


def _per_interval(span_of: str) -> str:
    return " or ".join(f"{span_text(getattr(i, span_of))} ({i.name})" for i in INTERVALS.values())


INTERVAL = params.OneOf("interval", "Bucket width.", options=INTERVALS)
FROM = params.Timestamp(
    "from",
    "First bucket (ISO 8601 or epoch ms, floored to a bucket start); default: to minus "
    f"{_per_interval('default_span')}. At most {_per_interval('max_span')} before to.",
)
TO = params.Timestamp(
    "to",
    "End of the range, exclusive (ISO 8601 or epoch ms); default: the end of the current "
    "bucket, or from plus the default span when from is given.",
)
PARAMS = (INTERVAL, FROM, TO)


class BucketRange(NamedTuple):
    """Buckets of ``interval`` whose start is in [start, end)."""

    interval: Interval
    start: datetime
    end: datetime


def floor_to(instant: datetime, width: timedelta) -> datetime:
    """The start of the epoch-aligned bucket of ``width`` holding ``instant``."""
    return instant - (instant - _EPOCH) % width


def resolve(
    every: Interval, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Buckets to return, [from, to): from floored to a bucket start; defaults end at now."""
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
        raise FROM.bad("must not be after to")
    start = floor_to(start, every.width)
    if end - start > every.max_span:
        raise FROM.bad(
            f"range too wide: at most {every.max_span} for interval {every.name}; "
            "move from closer to to"
        )
    return start, end


def requested(request: Request, now: datetime) -> BucketRange:
    """The interval and range ``request`` asks for (to is read before from)."""
    every = INTERVAL.of(request)
    end = TO.of(request)
    start, end = resolve(every, FROM.of(request), end, now)
    return BucketRange(every, start, end)
