"""The sink's SQL: one staging layout and one INSERT per target table.

Each INSERT reads from ``{src}``: a temporary staging table filled by COPY, or a one-row
VALUES list run with executemany. Times travel as integer ms and are converted here, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass


def _ms(column: str) -> str:
    return f"('epoch'::timestamptz + {column} * interval '1 millisecond')"


@dataclass(frozen=True)
class Staged:
    """A staging layout (column, PostgreSQL type) and the statement that moves it on."""

    name: str
    columns: tuple[tuple[str, str], ...]
    insert: str
    # Appended for executemany, which learns what was inserted row by row.
    returning: str = ""

    @property
    def column_names(self) -> str:
        """Comma-separated column names."""
        return ", ".join(name for name, _ in self.columns)

    @property
    def types(self) -> list[str]:
        """The PostgreSQL types, for binary COPY."""
        return [kind for _, kind in self.columns]

    def create_sql(self) -> str:
        """The temporary staging table; emptied by every commit."""
        cols = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ({cols}) ON COMMIT DELETE ROWS"

    def copy_sql(self) -> str:
        """COPY into the staging table."""
        return f"COPY {self.name} ({self.column_names}) FROM STDIN (FORMAT BINARY)"

    def from_stage(self) -> str:
        """The INSERT reading the staging table."""
        return self.insert.format(src=self.name)

    def from_values(self) -> str:
        """The INSERT reading one row of parameters (for executemany)."""
        params = ", ".join(f"%s::{kind}" for _, kind in self.columns)
        source = f"(VALUES ({params})) AS s ({self.column_names})"
        return self.insert.format(src=source) + self.returning


TICKS = Staged(
    "stage_ticks",
    (("ts", "int8"), ("event_id", "text"), ("selection_id", "text"), ("game_id", "text"),
     ("market_id", "text"), ("seq", "int8"), ("market_status", "text"), ("price", "float8")),
    "INSERT INTO odds_ticks"
    " (ts, event_id, selection_id, game_id, market_id, seq, market_status, price)"
    f" SELECT {_ms('ts')}, event_id, selection_id, game_id, market_id, seq, market_status, price"
    " FROM {src} ON CONFLICT DO NOTHING",
    " RETURNING event_id, selection_id",
)  # fmt: skip

GAME_EVENTS = Staged(
    "stage_game_events",
    (("ts", "int8"), ("event_id", "text"), ("game_id", "text"), ("seq", "int8"),
     ("kind", "text"), ("status", "text"), ("score_home", "int4"), ("score_away", "int4"),
     ("period", "int4"), ("clock", "int4"), ("payload", "text")),
    "INSERT INTO game_events (ts, event_id, game_id, seq, kind, status, score_home, score_away,"
    " period, clock, payload)"
    f" SELECT {_ms('ts')}, event_id, game_id, seq, kind, status, score_home, score_away,"
    " period, clock, payload::jsonb FROM {src} ON CONFLICT DO NOTHING",
    " RETURNING event_id",
)  # fmt: skip

BETS = Staged(
    "stage_bets",
    (("ts", "int8"), ("event_id", "text"), ("bet_id", "text"), ("game_id", "text"),
     ("account_id", "text"), ("market_id", "text"), ("selection_id", "text"),
     ("stake", "int8"), ("price", "float8")),
    "INSERT INTO bets"
    " (ts, event_id, bet_id, game_id, account_id, market_id, selection_id, stake, price)"
    f" SELECT {_ms('ts')}, event_id, bet_id, game_id, account_id, market_id, selection_id,"
    " stake, price FROM {src} ON CONFLICT DO NOTHING",
    " RETURNING event_id",
)  # fmt: skip


# Which of the staged rows this transaction really inserted: its own xid is their xmin. Run
# only when the insert's row count shows that some rows were already stored (RETURNING on
# every insert would cost about a third of the insert itself).
def inserted_here(staged: Staged, table: str, key: tuple[str, ...]) -> str:
    """Staged keys whose row in ``table`` was inserted by the current transaction."""
    cols = ", ".join(f"s.{c}" for c in key)
    join = " AND ".join([f"t.{c} = s.{c}" for c in key] + [f"t.ts = {_ms('s.ts')}"])
    return (
        f"SELECT {cols} FROM {staged.name} s JOIN {table} t ON {join}"
        " WHERE t.xmin = pg_current_xact_id()::xid"
    )


NEW_TICKS = inserted_here(TICKS, "odds_ticks", ("event_id", "selection_id"))
NEW_BETS = inserted_here(BETS, "bets", ("event_id",))
NEW_GAME_EVENTS = inserted_here(GAME_EVENTS, "game_events", ("event_id",))


def _earlier(side: str) -> str:
    return f"(EXCLUDED.{side}_ts, EXCLUDED.{side}_seq) < (c.{side}_ts, c.{side}_seq)"


def _later(side: str) -> str:
    return f"(EXCLUDED.{side}_ts, EXCLUDED.{side}_seq) > (c.{side}_ts, c.{side}_seq)"


# The merge rule of rollups.Candle.merge: open/close from the earlier/later (ts, seq).
CANDLES = Staged(
    "stage_candles",
    (("width", "int8"), ("market_id", "text"), ("selection_id", "text"), ("bucket", "int8"),
     ("open", "float8"), ("high", "float8"), ("low", "float8"), ("close", "float8"),
     ("open_ts", "int8"), ("open_seq", "int8"), ("close_ts", "int8"), ("close_seq", "int8"),
     ("ticks", "int4")),
    "INSERT INTO candles AS c (width, market_id, selection_id, bucket, open, high, low, close,"
    " open_ts, open_seq, close_ts, close_seq, ticks)"
    " SELECT width * interval '1 millisecond', market_id, selection_id,"
    f" {_ms('bucket')}, open, high, low, close, {_ms('open_ts')}, open_seq,"
    f" {_ms('close_ts')}, close_seq, ticks FROM {{src}}"
    " ON CONFLICT (market_id, width, bucket, selection_id) DO UPDATE SET"
    " high = greatest(c.high, EXCLUDED.high), low = least(c.low, EXCLUDED.low),"
    f" open = CASE WHEN {_earlier('open')} THEN EXCLUDED.open ELSE c.open END,"
    f" open_ts = CASE WHEN {_earlier('open')} THEN EXCLUDED.open_ts ELSE c.open_ts END,"
    f" open_seq = CASE WHEN {_earlier('open')} THEN EXCLUDED.open_seq ELSE c.open_seq END,"
    f" close = CASE WHEN {_later('close')} THEN EXCLUDED.close ELSE c.close END,"
    f" close_ts = CASE WHEN {_later('close')} THEN EXCLUDED.close_ts ELSE c.close_ts END,"
    f" close_seq = CASE WHEN {_later('close')} THEN EXCLUDED.close_seq ELSE c.close_seq END,"
    " ticks = c.ticks + EXCLUDED.ticks",
)  # fmt: skip

BET_VOLUME = Staged(
    "stage_bet_volume",
    (("width", "int8"), ("market_id", "text"), ("selection_id", "text"), ("bucket", "int8"),
     ("bets", "int4"), ("stake", "int8"), ("payout", "float8")),
    "INSERT INTO bet_volume AS v (width, market_id, selection_id, bucket, bets, stake, payout)"
    " SELECT width * interval '1 millisecond', market_id, selection_id,"
    f" {_ms('bucket')}, bets, stake, payout FROM {{src}}"
    " ON CONFLICT (market_id, width, bucket, selection_id) DO UPDATE SET"
    " bets = v.bets + EXCLUDED.bets, stake = v.stake + EXCLUDED.stake,"
    " payout = v.payout + EXCLUDED.payout",
)  # fmt: skip

# State rows change only for a newer seq of their game; fields an event leaves out are kept.
GAMES = Staged(
    "stage_games",
    (("game_id", "text"), ("league", "text"), ("sport", "text"), ("home", "text"),
     ("away", "text"), ("start_time", "int8"), ("status", "text"), ("score_home", "int4"),
     ("score_away", "int4"), ("period", "int4"), ("clock", "int4"), ("results", "text"),
     ("last_seq", "int8"), ("updated", "int8")),
    "INSERT INTO games AS g (game_id, league, sport, home, away, start_time, status,"
    " score_home, score_away, period, clock, results, last_seq, updated_at)"
    f" SELECT game_id, league, sport, home, away, {_ms('start_time')}, status, score_home,"
    f" score_away, period, clock, results::jsonb, last_seq, {_ms('updated')} FROM {{src}}"
    " ON CONFLICT (game_id) DO UPDATE SET league = EXCLUDED.league, sport = EXCLUDED.sport,"
    " home = EXCLUDED.home, away = EXCLUDED.away, start_time = EXCLUDED.start_time,"
    " status = EXCLUDED.status, score_home = EXCLUDED.score_home,"
    " score_away = EXCLUDED.score_away, period = coalesce(EXCLUDED.period, g.period),"
    " clock = coalesce(EXCLUDED.clock, g.clock),"
    " results = coalesce(EXCLUDED.results, g.results), last_seq = EXCLUDED.last_seq,"
    " updated_at = EXCLUDED.updated_at WHERE g.last_seq < EXCLUDED.last_seq",
)  # fmt: skip

MARKETS = Staged(
    "stage_markets",
    (("market_id", "text"), ("game_id", "text"), ("kind", "text"), ("line", "float8"),
     ("status", "text"), ("prices", "text"), ("last_seq", "int8"), ("updated", "int8")),
    "INSERT INTO markets AS m (market_id, game_id, kind, line, status, prices, last_seq,"
    " updated_at)"
    " SELECT market_id, game_id, kind, line, status, prices::jsonb, last_seq,"
    f" {_ms('updated')} FROM {{src}}"
    " ON CONFLICT (market_id) DO UPDATE SET game_id = EXCLUDED.game_id, kind = EXCLUDED.kind,"
    " line = EXCLUDED.line, status = EXCLUDED.status, prices = EXCLUDED.prices,"
    " last_seq = EXCLUDED.last_seq, updated_at = EXCLUDED.updated_at"
    " WHERE m.last_seq < EXCLUDED.last_seq",
)  # fmt: skip

ALL: tuple[Staged, ...] = (TICKS, GAME_EVENTS, BETS, CANDLES, BET_VOLUME, GAMES, MARKETS)
