"""Simulated accounts that place bets on open markets at the price on offer."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from producer.simulator.markets import Market, implied_weights

MIN_STAKE = 100  # minor units
MAX_STAKE = 500_000
# Log-normal stakes: median 20.00, a long tail of big punters.
STAKE_MEDIAN = 2_000
STAKE_SIGMA = 1.3


@dataclass(frozen=True, slots=True)
class BetSlip:
    """What one account wants to back: a selection of a market, a stake and the price."""

    account_id: str
    market_id: str
    selection_id: str
    stake: int
    price: float


class Bettors:
    """A fixed population of accounts; ids do not depend on the run, so a user's token works
    across restarts of the simulator."""

    def __init__(self, accounts: int, rng: random.Random) -> None:
        self._accounts = accounts
        self._rng = rng

    def account_id(self, n: int) -> str:
        """The id of account number ``n``."""
        return f"acct-{n:05d}"

    def place(self, market: Market) -> BetSlip:
        """A bet on ``market`` (which must be open) at its current price."""
        rng = self._rng
        weights = implied_weights(market.prices)
        selection = rng.choices(list(weights), weights=list(weights.values()))[0]
        raw = rng.lognormvariate(math.log(STAKE_MEDIAN), STAKE_SIGMA)
        # Whole currency units, as most stakes are.
        stake = min(max(round(raw / 100) * 100, MIN_STAKE), MAX_STAKE)
        return BetSlip(
            account_id=self.account_id(rng.randrange(self._accounts)),
            market_id=market.market_id,
            selection_id=selection,
            stake=stake,
            price=market.prices[selection],
        )
