"""The JSON body of every response, as TypedDicts: the routes build them, the OpenAPI document
is generated from them (``openapi.py``), and the tests validate real answers against it.

They cost nothing per response: plain dicts at run time, checked by the type checker. (Pydantic
reads them once, at start-up, to write the schema; it never sees a row.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field

# Pydantic reads TypedDicts from typing_extensions only, before Python 3.12.
from typing_extensions import TypedDict

IntervalName = Literal["1m", "5m"]


def _says(text: str) -> Any:
    # The field's description in the document.
    return Field(description=text)


class Health(TypedDict):
    """Liveness or readiness."""

    status: str


class Score(TypedDict):
    """Goals or points of each side."""

    home: int
    away: int


class Game(TypedDict):
    """A game's latest state."""

    game_id: str
    league: str
    sport: str
    home: str
    away: str
    start_time: datetime
    status: str
    score: Score
    period: int | None
    clock: int | None
    results: Annotated[
        dict[str, str | None] | None, _says("Winning selection per market, once settled.")
    ]
    updated_at: datetime


class GameList(TypedDict):
    """A page of games in (start_time, game_id) order."""

    data: list[Game]
    next_cursor: Annotated[str | None, _says("Null on the last page.")]


class Market(TypedDict):
    """A market's latest state and prices."""

    market_id: str
    kind: str
    line: float | None
    status: str
    prices: Annotated[dict[str, float], _says("Decimal odds per selection id.")]
    seq: int
    updated_at: datetime


class GameDetail(Game):
    """A game with its markets."""

    markets: list[Market]


class TimelineEvent(TypedDict):
    """One game event, with the state after it."""

    event_id: str
    ts: datetime
    seq: int
    kind: str
    status: str
    score: Score
    period: int | None
    clock: int | None


class Timeline(TypedDict):
    """A game's events in seq order."""

    game_id: str
    events: list[TimelineEvent]


class Candle(TypedDict):
    """One bucket of one selection's price."""

    t: Annotated[datetime, _says("Bucket start.")]
    open: float
    high: float
    low: float
    close: float
    ticks: int


class VolumeBucket(TypedDict):
    """One bucket of one selection's bets."""

    t: Annotated[datetime, _says("Bucket start.")]
    bets: int
    stake: Annotated[int, _says("Minor units.")]
    payout: Annotated[float, _says("sum(stake * price).")]


_PER_SELECTION = "One array per selection id, buckets in time order."
# Functional syntax: "from" is a Python keyword.
Candles = TypedDict(
    "Candles",
    {
        "market_id": str,
        "interval": IntervalName,
        "from": datetime,
        "to": datetime,
        "selections": Annotated[dict[str, list[Candle]], _says(_PER_SELECTION)],
    },
)
Volume = TypedDict(
    "Volume",
    {
        "market_id": str,
        "interval": IntervalName,
        "from": datetime,
        "to": datetime,
        "selections": Annotated[dict[str, list[VolumeBucket]], _says(_PER_SELECTION)],
    },
)


class ExposureSelection(TypedDict):
    """What one selection winning would cost the book."""

    selection_id: str
    bets: int
    stake: Annotated[int, _says("Minor units.")]
    payout: Annotated[float, _says("Paid out if it wins.")]
    net: Annotated[float, _says("payout - total_stake.")]


class Exposure(TypedDict):
    """Stakes taken on a market and the liability of each outcome."""

    market_id: str
    total_stake: int
    worst_case_net: float
    selections: list[ExposureSelection]


class NameHit(TypedDict):
    """A team or league name that matches the query."""

    name: str
    sport: str
    score_match: Annotated[float, _says("Higher is a better match.")]


class SearchGame(Game):
    """A game whose teams and league match the query."""

    score_match: Annotated[float, _says("Higher is a better match.")]


class SearchResults(TypedDict):
    """Type-ahead results, best first."""

    q: str
    teams: list[NameHit]
    leagues: list[NameHit]
    games: list[SearchGame]


class ErrorDetail(TypedDict):
    """What went wrong; the code is stable, the message is for people."""

    code: str
    message: str
    parameter: NotRequired[Annotated[str, _says("Only for bad_parameter.")]]


class Error(TypedDict):
    """Every error answer."""

    error: ErrorDetail


class OpenApiDocument(TypedDict):
    """An OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    paths: dict[str, Any]
    components: dict[str, Any]
