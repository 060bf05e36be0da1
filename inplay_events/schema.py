"""Typed models of the v1 events carried on the ``games``, ``odds`` and ``bets`` topics."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    model_validator,
)

PROTOCOL_VERSION: Final = 1


class GameKind(StrEnum):
    """What happened to a game."""

    SCHEDULED = "scheduled"
    STARTED = "started"
    SCORE = "score"
    PERIOD = "period"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    FINISHED = "finished"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class GameStatus(StrEnum):
    """A game's status after an event."""

    SCHEDULED = "scheduled"
    LIVE = "live"
    SUSPENDED = "suspended"
    FINISHED = "finished"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class MarketKind(StrEnum):
    """The three market kinds every game offers."""

    MATCH_WINNER = "match_winner"
    HANDICAP = "handicap"
    TOTAL = "total"


class MarketStatus(StrEnum):
    """Whether a market takes bets."""

    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    SETTLED = "settled"


# Far above any real book (exchanges stop at 1000); keeps the decimals check finite.
MAX_PRICE = 1_000_000.0


def _check_price(price: float) -> float:
    # Decimal odds of 1.0 or less pay back nothing: such a price is a feed error.
    if price <= 1.0:
        raise ValueError(f"price {price} must be greater than 1.0")
    if price > MAX_PRICE:
        raise ValueError(f"price {price} is above {MAX_PRICE:g}")
    if abs(price * 1000 - round(price * 1000)) > 1e-6:
        raise ValueError(f"price {price} has more than three decimals")
    return price


Price = Annotated[float, Field(strict=False, allow_inf_nan=False), AfterValidator(_check_price)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=128)]
EventTime = Annotated[StrictInt, Field(ge=0)]


class _Model(BaseModel):
    # Unknown fields are ignored so that producers may add optional fields within v1.
    model_config = ConfigDict(frozen=True, extra="ignore", use_enum_values=True)


class Score(_Model):
    """Goals or points of each side."""

    home: Annotated[StrictInt, Field(ge=0)]
    away: Annotated[StrictInt, Field(ge=0)]


class _GameScoped(_Model):
    v: Literal[1] = PROTOCOL_VERSION
    id: Id
    game_id: Id
    ts: EventTime
    # Per game, strictly increasing across all three topics: gaps and reorders are detectable.
    seq: Annotated[StrictInt, Field(ge=1)]


class GameEvent(_GameScoped):
    """A lifecycle or score change of one game; carries the whole game object."""

    type: Literal["game"] = "game"
    kind: GameKind
    status: GameStatus
    league: Id
    sport: Id
    home: Id
    away: Id
    start_time: EventTime
    score: Score
    period: Annotated[StrictInt, Field(ge=0)] | None = None
    clock: Annotated[StrictInt, Field(ge=0)] | None = None
    # On ``settled``: market_id -> winning selection_id (None when the market is void).
    results: dict[Id, Id | None] | None = None
    reason: StrictStr | None = None

    @model_validator(mode="after")
    def _results_on_settle(self) -> Self:
        if self.kind == GameKind.SETTLED and self.results is None:
            raise ValueError("results: required when kind is settled")
        return self


class OddsEvent(_GameScoped):
    """The full current state of one market: status and every selection's price."""

    type: Literal["odds"] = "odds"
    market_id: Id
    kind: MarketKind
    line: float | None = None
    status: MarketStatus
    prices: dict[Id, Price] = Field(min_length=1)

    @model_validator(mode="after")
    def _line_fits_kind(self) -> Self:
        if self.kind == MarketKind.MATCH_WINNER and self.line is not None:
            raise ValueError("line: must be null for match_winner")
        if self.kind != MarketKind.MATCH_WINNER and self.line is None:
            raise ValueError(f"line: required for {self.kind}")
        return self


class BetEvent(_GameScoped):
    """A bet accepted at ``price`` for ``stake`` minor units."""

    type: Literal["bet"] = "bet"
    bet_id: Id
    account_id: Id
    market_id: Id
    selection_id: Id
    stake: Annotated[StrictInt, Field(gt=0)]
    price: Price


class AliveEvent(_Model):
    """The producer's once-a-second liveness beacon (feed safety); belongs to no game."""

    v: Literal[1] = PROTOCOL_VERSION
    id: Id
    type: Literal["alive"] = "alive"
    producer: Id
    ts: EventTime


Event = GameEvent | OddsEvent | BetEvent | AliveEvent
MODEL_BY_TYPE: dict[str, type[BaseModel]] = {
    "game": GameEvent,
    "odds": OddsEvent,
    "bet": BetEvent,
    "alive": AliveEvent,
}
