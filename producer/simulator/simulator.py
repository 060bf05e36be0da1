"""The simulator: N concurrent games merged into one time-ordered stream of events."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from inplay_events import Event
from producer.simulator.bettors import Bettors
from producer.simulator.catalog import LEAGUES, SPORT_WEIGHTS, League
from producer.simulator.emitter import Emitter
from producer.simulator.game import PRE_MATCH_MS, Game
from producer.simulator.markets import Market
from producer.simulator.rate import RateBudget
from producer.simulator.scheduler import Scheduler

FIRST_START_MS = 10_000
# Initial games kick off this far apart (at most), so they settle at different times.
MAX_STAGGER_MS = 15_000
STAGGER_WINDOW_MS = 180_000
BET_SHARE = 0.3  # of filler events; the rest are odds ticks
STRENGTH_SIGMA = 0.35


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Every input the event stream depends on (apart from event ids)."""

    seed: int
    run_id: str
    start_ms: int
    games: int = 12
    events_per_sec: float = 200.0
    speedup: float = 30.0
    accounts: int = 500


class Simulator:
    """Deterministic for a given config: iterate it for an endless stream of events.

    ``id_nonce`` makes event ids unique per process; it defaults to a random value and
    is the only input that is not part of ``config``.
    """

    def __init__(self, config: SimConfig, id_nonce: str | None = None) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._sched = Scheduler()
        self._emit = Emitter(
            id_nonce or secrets.token_hex(6), config.start_ms, lambda: self._sched.now
        )
        self._budget = RateBudget(config.events_per_sec)
        self._bettors = Bettors(config.accounts, self._rng)
        self._games: dict[str, Game] = {}
        self._game_count = 0
        self._bet_count = 0
        self._busy: set[str] = set()
        self._strength = {
            team: self._rng.gauss(0.0, STRENGTH_SIGMA)
            for league in LEAGUES
            for team in league.teams
        }
        stagger = min(MAX_STAGGER_MS, STAGGER_WINDOW_MS / config.games)
        for i in range(config.games):
            self._sched.at(0.0, partial(self._new_game, FIRST_START_MS + i * stagger))
        self._sched.at(0.0, self._fill)

    def __iter__(self) -> Iterator[Event]:
        out = self._emit.out
        while self._sched.run_next():
            if out:
                yield from out
                out.clear()

    @property
    def now_ms(self) -> float:
        """Logical ms since the start of the simulation."""
        return self._sched.now

    # ---- games -------------------------------------------------------------------------

    def _pick_fixture(self) -> tuple[League, str, str]:
        rng = self._rng
        sport = rng.choices(list(SPORT_WEIGHTS), weights=list(SPORT_WEIGHTS.values()))[0]
        leagues = [lg for lg in LEAGUES if lg.sport.name == sport]
        rng.shuffle(leagues)
        # Prefer a league with two teams not already playing; else any league at all.
        for league in [*leagues, *(lg for lg in LEAGUES if lg not in leagues)]:
            free = [t for t in league.teams if t not in self._busy]
            if len(free) >= 2:
                home, away = rng.sample(free, 2)
                return league, home, away
        league = rng.choice(leagues)
        home, away = rng.sample(league.teams, 2)
        return league, home, away

    def _new_game(self, start_in_ms: float) -> None:
        league, home, away = self._pick_fixture()
        self._game_count += 1
        game = Game(
            game_id=f"{self.config.run_id}-g{self._game_count:06d}",
            league=league,
            home=home,
            away=away,
            strength=(self._strength[home], self._strength[away]),
            scheduler=self._sched,
            emitter=self._emit,
            rng=self._rng,
            speedup=self.config.speedup,
            on_done=self._game_done,
        )
        self._games[game.game_id] = game
        self._busy.update((home, away))
        game.announce(start_in_ms)

    def _game_done(self, game: Game) -> None:
        del self._games[game.game_id]
        self._busy.difference_update((game.home, game.away))
        # A new fixture replaces it at once, so the number of games stays constant.
        self._new_game(PRE_MATCH_MS)

    # ---- odds ticks and bets -----------------------------------------------------------

    def _fill(self) -> None:
        """One filler slot: an odds tick or a bet on an open market, if the rate allows."""
        if self._budget.allows(self._sched.now, self._emit.count):
            candidates = [g for g in self._games.values() if g.open_markets()]
            if candidates:
                game = self._rng.choice(candidates)
                market = self._rng.choice(game.open_markets())
                if self._rng.random() < BET_SHARE:
                    self._bet(game, market)
                else:
                    market.tick(game.outlook(), self._rng)
                    game.emit_market(market)
        self._sched.after(self._budget.interval_ms, self._fill)

    def _bet(self, game: Game, market: Market) -> None:
        slip = self._bettors.place(market)
        self._bet_count += 1
        self._emit.bet(
            game.game_id,
            bet_id=f"{self.config.run_id}-b{self._bet_count:09d}",
            account_id=slip.account_id,
            market_id=slip.market_id,
            selection_id=slip.selection_id,
            stake=slip.stake,
            price=slip.price,
        )
