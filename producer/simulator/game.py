"""One game's lifecycle: scheduled, started, goals, periods, finished, settled (or cancelled)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial

from inplay_events import GameKind, GameStatus, MarketKind, MarketStatus
from producer.simulator import pricing
from producer.simulator.catalog import League
from producer.simulator.emitter import Emitter
from producer.simulator.markets import Market
from producer.simulator.scheduler import Scheduler

# Wall-clock (logical) durations: they do not scale with the speedup, so a newcomer
# watching at the default speedup sees a short pre-match and a quick settlement.
PRE_MATCH_MS = 30_000
SETTLE_DELAY_MS = 5_000
BET_STOP_MS = (3_000.0, 6_000.0)
HOME_ADVANTAGE = 0.12
HOME, AWAY = 0, 1


class Game:
    """A game as a state machine that schedules its own next steps and emits its events."""

    def __init__(
        self,
        *,
        game_id: str,
        league: League,
        home: str,
        away: str,
        strength: tuple[float, float],
        scheduler: Scheduler,
        emitter: Emitter,
        rng: random.Random,
        speedup: float,
        on_done: Callable[[Game], None],
    ) -> None:
        self.game_id = game_id
        self.league = league
        self.sport = league.sport
        self.home, self.away = home, away
        self._sched, self._emit, self._rng = scheduler, emitter, rng
        self._speedup = speedup
        self._on_done = on_done
        edge = (strength[0] - strength[1]) / 2
        half = self.sport.goals_per_game / 2
        # Expected regulation goals of each side.
        self.expected = (
            half * math.exp(edge + HOME_ADVANTAGE),
            half * math.exp(-edge - HOME_ADVANTAGE),
        )
        self.status = GameStatus.SCHEDULED
        self.score = [0, 0]
        self.period = 0
        self.start_time = 0
        self._clock_base_s = 0.0
        self._clock_anchor_ms: float | None = None  # logical ms the clock started running at
        self._bet_stop = 0  # bumped on every goal, so only the newest bet stop reopens
        self._outlook_key: tuple[int, ...] = ()
        self._outlook = pricing.outlook(0, 0, *self.expected)
        self.markets = self._create_markets()
        # The markets that take bets; kept up to date because bets and ticks ask per event.
        self._open: list[Market] = list(self.markets)

    # ---- state read by the simulator -------------------------------------------------

    @property
    def clock(self) -> int:
        """Game clock in seconds."""
        if self._clock_anchor_ms is None:
            return int(self._clock_base_s)
        running = (self._sched.now - self._clock_anchor_ms) * self._speedup / 1000.0
        return int(self._clock_base_s + running)

    def open_markets(self) -> list[Market]:
        """Markets that take bets now."""
        return self._open

    def outlook(self) -> pricing.Outlook:
        """The model's view of the final score now (recomputed once per game minute)."""
        key = (*self.score, self.period, self.clock // 60)
        if key != self._outlook_key:
            left = self._minutes_left() / self.sport.regulation_minutes
            self._outlook = pricing.outlook(
                self.score[HOME], self.score[AWAY], self.expected[0] * left, self.expected[1] * left
            )
            self._outlook_key = key
        return self._outlook

    def _minutes_left(self) -> float:
        periods = self.sport.periods
        if self.status == GameStatus.SCHEDULED:
            return self.sport.regulation_minutes
        if self.status != GameStatus.LIVE:
            return 0.0
        minute = self.clock / 60.0
        if self.period > len(periods):
            end = self.sport.regulation_minutes + self.sport.overtime_minutes
            return max(0.0, end - minute)
        end = sum(p.minutes for p in periods[: self.period])
        later = sum(p.minutes for p in periods[self.period :])
        return max(0.0, end - minute) + later

    # ---- emission helpers ------------------------------------------------------------

    def _game_event(self, kind: GameKind, **extra: object) -> None:
        self._emit.game(
            self.game_id,
            kind=kind,
            status=self.status,
            league=self.league.name,
            sport=self.sport.name,
            home=self.home,
            away=self.away,
            start_time=self.start_time,
            score={"home": self.score[HOME], "away": self.score[AWAY]},
            period=self.period,
            clock=self.clock,
            **extra,
        )

    def emit_market(self, market: Market) -> None:
        """Emit one market's full state."""
        self._emit.odds(
            self.game_id, market.market_id, market.kind, market.line, market.status, market.prices
        )

    def _all_markets(self, status: MarketStatus | None = None, reprice: bool = False) -> None:
        o = self.outlook()
        if status is not None:
            for m in self.markets:
                m.status = status
            self._open = [m for m in self.markets if m.is_open]
        for m in self.markets:
            if reprice:
                m.reprice(o)
            self.emit_market(m)

    def _create_markets(self) -> list[Market]:
        o = self._outlook
        draws = self.sport.draws
        # Lines are fixed pre-match at the half goal closest to an even chance.
        hc_line, tot_line = pricing.balanced_handicap_line(o), pricing.balanced_total_line(o)
        markets = [
            Market(f"{self.game_id}-mw", MarketKind.MATCH_WINNER, None, draws),
            Market(f"{self.game_id}-hc", MarketKind.HANDICAP, hc_line, draws),
            Market(f"{self.game_id}-tot", MarketKind.TOTAL, tot_line, draws),
        ]
        for m in markets:
            m.reprice(o)
        return markets

    # ---- lifecycle ---------------------------------------------------------------------

    def announce(self, start_in_ms: float) -> None:
        """Publish the fixture and pre-match odds; schedule kick-off (or a rare call-off)."""
        self.start_time = self._emit.ts + int(start_in_ms)
        self._game_event(GameKind.SCHEDULED)
        self._all_markets()
        if self._rng.random() < self.sport.cancel_rate:
            self._sched.after(start_in_ms * self._rng.uniform(0.3, 0.9), self._cancel)
        else:
            self._sched.after(start_in_ms, self._start)

    def _cancel(self) -> None:
        self.status = GameStatus.CANCELLED
        # Every market is void: settled with no winner, as the contract's results allow.
        results: dict[str, str | None] = {m.market_id: None for m in self.markets}
        self._game_event(GameKind.CANCELLED, results=results, reason="postponed")
        self._all_markets(MarketStatus.SETTLED)
        self._done()

    def _start(self) -> None:
        self.status = GameStatus.LIVE
        self._begin_period(1, 0.0)
        self._game_event(GameKind.STARTED)
        self._all_markets(reprice=True)
        self._schedule_period()

    def _begin_period(self, period: int, clock_s: float) -> None:
        self.period = period
        self._clock_base_s = clock_s
        self._clock_anchor_ms = self._sched.now

    def _stop_clock(self) -> None:
        self._clock_base_s = float(self.clock)
        self._clock_anchor_ms = None

    def _game_ms(self, minutes: float) -> float:
        """Logical ms that ``minutes`` of game time take at the speedup."""
        return minutes * 60_000.0 / self._speedup

    def _schedule_period(self) -> None:
        spec = self.sport.periods[self.period - 1]
        length = spec.minutes + self._rng.uniform(0.0, spec.max_stoppage)
        per_minute = [x / self.sport.regulation_minutes for x in self.expected]
        for side in (HOME, AWAY):
            minute = self._rng.expovariate(per_minute[side])
            while minute < length:
                self._sched.after(self._game_ms(minute), partial(self._goal, side))
                minute += self._rng.expovariate(per_minute[side])
        self._sched.after(self._game_ms(length), self._end_period)

    def _goal(self, side: int, sudden_death: bool = False) -> None:
        if self.status != GameStatus.LIVE:
            return
        self.score[side] += 1
        self._game_event(GameKind.SCORE)
        if sudden_death:
            self._finish()
            return
        self._suspend_markets()

    def _suspend_markets(self) -> None:
        """Bet stop: markets suspend at their last prices and reopen a few seconds later."""
        self._bet_stop += 1
        self._all_markets(MarketStatus.SUSPENDED)
        token = self._bet_stop
        self._sched.after(self._rng.uniform(*BET_STOP_MS), lambda: self._reopen(token))

    def _reopen(self, token: int) -> None:
        if token != self._bet_stop or self.status != GameStatus.LIVE:
            return
        o = self.outlook()
        self._open = list(self.markets)
        for m in self.markets:
            m.status = MarketStatus.OPEN
            m.tick(o, self._rng)
            self.emit_market(m)

    def _end_period(self) -> None:
        if self.status != GameStatus.LIVE:
            return
        self._stop_clock()
        periods = self.sport.periods
        n = self.period
        if n < len(periods):
            half_time = len(periods) % 2 == 0 and n == len(periods) // 2
            label = "half-time" if half_time else f"end of period {n}"
            self._game_event(GameKind.PERIOD, reason=label)
            self._sched.after(self._game_ms(periods[n - 1].break_after), self._next_period)
        elif self.sport.draws or self.score[HOME] != self.score[AWAY] or n > len(periods):
            if n > len(periods):
                self._shootout()
            self._finish()
        else:
            self._game_event(GameKind.PERIOD, reason="end of regulation")
            self._sched.after(self._game_ms(self.sport.overtime_break), self._overtime)

    def _next_period(self) -> None:
        n = self.period
        self._begin_period(n + 1, sum(p.minutes for p in self.sport.periods[:n]) * 60.0)
        self._game_event(GameKind.PERIOD, reason=f"period {n + 1}")
        self._all_markets(reprice=True)
        self._schedule_period()

    def _overtime(self) -> None:
        """Sudden death: the first goal wins; if none, a shootout decides."""
        self._begin_period(self.period + 1, self.sport.regulation_minutes * 60.0)
        self._game_event(GameKind.PERIOD, reason="overtime")
        self._all_markets(reprice=True)
        length = self.sport.overtime_minutes
        per_minute = [x / self.sport.regulation_minutes for x in self.expected]
        first = [self._rng.expovariate(r) for r in per_minute]
        side = HOME if first[HOME] <= first[AWAY] else AWAY
        if first[side] < length:
            self._sched.after(self._game_ms(first[side]), lambda: self._goal(side, True))
        self._sched.after(self._game_ms(length), self._end_period)

    def _shootout(self) -> None:
        p_home = self.expected[0] / sum(self.expected)
        side = HOME if self._rng.random() < p_home else AWAY
        self.score[side] += 1
        self._game_event(GameKind.SCORE, reason="shootout")

    def _finish(self) -> None:
        self._stop_clock()
        self.status = GameStatus.FINISHED
        self._bet_stop += 1
        self._game_event(GameKind.FINISHED)
        self._all_markets(MarketStatus.CLOSED)
        self._sched.after(SETTLE_DELAY_MS, self._settle)

    def _settle(self) -> None:
        self.status = GameStatus.SETTLED
        home, away = self.score
        results: dict[str, str | None] = {m.market_id: m.winner(home, away) for m in self.markets}
        self._game_event(GameKind.SETTLED, results=results)
        self._all_markets(MarketStatus.SETTLED)
        self._done()

    def _done(self) -> None:
        self._emit.forget(self.game_id)
        self._on_done(self)
