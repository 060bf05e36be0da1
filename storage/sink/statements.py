"""The sink's SQL: one staging table and one INSERT per target table, derived from the rows.

Each INSERT reads from a source: a temporary staging table filled by COPY, or a one-row VALUES
list run with executemany. Column names, staging types and conversions (ms → timestamptz,
JSON text → jsonb) come from the row types in rows.py, so a new column is one new field there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from storage.sink import columns
from storage.sink.columns import Column, Row
from storage.sink.rows import (
    BetRow,
    CandleRow,
    GameRow,
    GameState,
    MarketState,
    Tick,
    VolumeRow,
)


@dataclass(frozen=True)
class Staged:
    """A row type's staging table, and the INSERT moving staged rows into ``table``."""

    name: str
    row: Row
    table: str
    # What follows the INSERT's SELECT (ON CONFLICT ...); it names the target ``alias``.
    conflict: str
    alias: str = ""
    # Appended for executemany, which learns what was inserted row by row.
    returning: str = ""

    @cached_property
    def kinds(self) -> tuple[tuple[str, Column], ...]:
        """(name, column kind) of every staged column, in the row's field order."""
        return columns.of(self.row)

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """(name, PostgreSQL type) of every staged column."""
        return tuple((name, kind.pg_type) for name, kind in self.kinds)

    @property
    def column_names(self) -> str:
        """Comma-separated column names."""
        return ", ".join(name for name, _ in self.kinds)

    @property
    def types(self) -> list[str]:
        """The PostgreSQL types, for binary COPY."""
        return [kind.pg_type for _, kind in self.kinds]

    def stored(self, column: str, staged: str) -> str:
        """The SQL storing ``column`` of the row, read from ``staged`` (e.g. ``s.ts``)."""
        return dict(self.kinds)[column].store(staged)

    def create_sql(self) -> str:
        """The temporary staging table; emptied by every commit."""
        cols = ", ".join(f"{name} {kind.pg_type}" for name, kind in self.kinds)
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ({cols}) ON COMMIT DELETE ROWS"

    def copy_sql(self) -> str:
        """COPY into the staging table."""
        return f"COPY {self.name} ({self.column_names}) FROM STDIN (FORMAT BINARY)"

    def from_stage(self) -> str:
        """The INSERT reading the staging table."""
        return self._insert(self.name)

    def from_values(self) -> str:
        """The INSERT reading one row of parameters (for executemany)."""
        params = ", ".join(f"%s::{kind.pg_type}" for _, kind in self.kinds)
        return self._insert(f"(VALUES ({params})) AS s ({self.column_names})") + self.returning

    def _insert(self, src: str) -> str:
        target = f"{self.table} AS {self.alias}" if self.alias else self.table
        values = ", ".join(kind.store(name) for name, kind in self.kinds)
        return (
            f"INSERT INTO {target} ({self.column_names}) SELECT {values} FROM {src} {self.conflict}"
        )


def _newer_seq_wins(row: Row, key: str, alias: str, kept: tuple[str, ...] = ()) -> str:
    """State rows: every column from the newer ``last_seq``; ``kept`` ones only when given."""
    sets = ", ".join(
        f"{c} = coalesce(EXCLUDED.{c}, {alias}.{c})" if c in kept else f"{c} = EXCLUDED.{c}"
        for c, _ in columns.of(row)
        if c != key
    )
    return f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {alias}.last_seq < EXCLUDED.last_seq"


TICKS = Staged(
    "stage_ticks",
    Tick,
    "odds_ticks",
    "ON CONFLICT DO NOTHING",
    returning=" RETURNING event_id, selection_id",
)
GAME_EVENTS = Staged(
    "stage_game_events",
    GameRow,
    "game_events",
    "ON CONFLICT DO NOTHING",
    returning=" RETURNING event_id",
)
BETS = Staged(
    "stage_bets", BetRow, "bets", "ON CONFLICT DO NOTHING", returning=" RETURNING event_id"
)


# Which of the staged rows this transaction really inserted: its own xid is their xmin. Run
# only when the insert's row count shows that some rows were already stored (RETURNING on
# every insert would cost about a third of the insert itself).
def inserted_here(staged: Staged, key: tuple[str, ...]) -> str:
    """Staged keys whose row in the target table was inserted by the current transaction."""
    cols = ", ".join(f"s.{c}" for c in key)
    join = " AND ".join([f"t.{c} = s.{c}" for c in key] + [f"t.ts = {staged.stored('ts', 's.ts')}"])
    return (
        f"SELECT {cols} FROM {staged.name} s JOIN {staged.table} t ON {join}"
        " WHERE t.xmin = pg_current_xact_id()::xid"
    )


NEW_TICKS = inserted_here(TICKS, ("event_id", "selection_id"))
NEW_BETS = inserted_here(BETS, ("event_id",))
NEW_GAME_EVENTS = inserted_here(GAME_EVENTS, ("event_id",))


def _earlier(side: str) -> str:
    return f"(EXCLUDED.{side}_ts, EXCLUDED.{side}_seq) < (c.{side}_ts, c.{side}_seq)"


def _later(side: str) -> str:
    return f"(EXCLUDED.{side}_ts, EXCLUDED.{side}_seq) > (c.{side}_ts, c.{side}_seq)"


_ROLLUP_KEY = "(market_id, width, bucket, selection_id)"

# The merge rule of rollups.Candle.merge: open/close from the earlier/later (ts, seq).
CANDLES = Staged(
    "stage_candles",
    CandleRow,
    "candles",
    f"ON CONFLICT {_ROLLUP_KEY} DO UPDATE SET"
    " high = greatest(c.high, EXCLUDED.high), low = least(c.low, EXCLUDED.low),"
    f" open = CASE WHEN {_earlier('open')} THEN EXCLUDED.open ELSE c.open END,"
    f" open_ts = CASE WHEN {_earlier('open')} THEN EXCLUDED.open_ts ELSE c.open_ts END,"
    f" open_seq = CASE WHEN {_earlier('open')} THEN EXCLUDED.open_seq ELSE c.open_seq END,"
    f" close = CASE WHEN {_later('close')} THEN EXCLUDED.close ELSE c.close END,"
    f" close_ts = CASE WHEN {_later('close')} THEN EXCLUDED.close_ts ELSE c.close_ts END,"
    f" close_seq = CASE WHEN {_later('close')} THEN EXCLUDED.close_seq ELSE c.close_seq END,"
    " ticks = c.ticks + EXCLUDED.ticks",
    alias="c",
)

BET_VOLUME = Staged(
    "stage_bet_volume",
    VolumeRow,
    "bet_volume",
    f"ON CONFLICT {_ROLLUP_KEY} DO UPDATE SET"
    " bets = v.bets + EXCLUDED.bets, stake = v.stake + EXCLUDED.stake,"
    " payout = v.payout + EXCLUDED.payout",
    alias="v",
)

# State rows change only for a newer seq of their game; fields an event leaves out are kept.
GAMES = Staged(
    "stage_games",
    GameState,
    "games",
    _newer_seq_wins(GameState, "game_id", "g", kept=("period", "clock", "results")),
    alias="g",
)
MARKETS = Staged(
    "stage_markets",
    MarketState,
    "markets",
    _newer_seq_wins(MarketState, "market_id", "m"),
    alias="m",
)

ALL: tuple[Staged, ...] = (TICKS, GAME_EVENTS, BETS, CANDLES, BET_VOLUME, GAMES, MARKETS)
