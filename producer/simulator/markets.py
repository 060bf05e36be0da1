"""One betting market of a game: its line, status and prices, and how its prices move."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from inplay_events import MarketKind, MarketStatus
from producer.simulator import pricing

# Each tick pulls the noise back toward the model by this factor, then adds a step.
NOISE_REVERSION = 0.85
NOISE_STEP = 0.04


def selections(kind: MarketKind, draws: bool) -> tuple[str, ...]:
    """The selection ids of a market of ``kind``."""
    if kind == MarketKind.MATCH_WINNER:
        return ("home", "draw", "away") if draws else ("home", "away")
    if kind == MarketKind.HANDICAP:
        return ("home", "away")
    return ("over", "under")


@dataclass(slots=True)
class Market:
    """The full state an odds event carries, plus the random-walk noise behind its prices."""

    market_id: str
    kind: MarketKind
    line: float | None
    draws: bool
    status: MarketStatus = MarketStatus.OPEN
    prices: dict[str, float] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)

    def probabilities(self, o: pricing.Outlook) -> dict[str, float]:
        """The model's fair probability of each selection given the game's outlook."""
        if self.kind == MarketKind.MATCH_WINNER:
            return pricing.match_winner(o, self.draws)
        assert self.line is not None
        if self.kind == MarketKind.HANDICAP:
            return pricing.handicap(o, self.line)
        return pricing.total(o, self.line)

    def reprice(self, o: pricing.Outlook) -> None:
        """Set prices from the model and the current noise."""
        self.prices = pricing.to_prices(self.probabilities(o), self.noise)

    def tick(self, o: pricing.Outlook, rng: random.Random) -> None:
        """One step of the mean-reverting random walk, then reprice."""
        for sel in selections(self.kind, self.draws):
            self.noise[sel] = self.noise.get(sel, 0.0) * NOISE_REVERSION + rng.gauss(
                0.0, NOISE_STEP
            )
        self.reprice(o)

    @property
    def is_open(self) -> bool:
        """Whether the market takes bets now."""
        return self.status == MarketStatus.OPEN

    def winner(self, home: int, away: int) -> str:
        """The winning selection for a final score of ``home``-``away``."""
        if self.kind == MarketKind.MATCH_WINNER:
            if home == away:
                return "draw"
            return "home" if home > away else "away"
        assert self.line is not None
        if self.kind == MarketKind.HANDICAP:
            return "home" if home + self.line > away else "away"
        return "over" if home + away > self.line else "under"


def implied_weights(prices: Mapping[str, float]) -> dict[str, float]:
    """How likely bettors pick each selection: proportional to its implied probability."""
    return {sel: 1.0 / price for sel, price in prices.items()}
