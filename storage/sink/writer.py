"""One batch → one transaction: raw rows, rollups of the really new rows, state, offsets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from storage.sink import offsets, rollups, statements
from storage.sink.rows import BatchRows, candle_rows, volume_rows
from storage.sink.statements import Staged

WriteMode = Literal["copy", "executemany"]
# Errors after which the same transaction may succeed later: connection lost, server down or
# restarting, deadlock or serialization failure (all psycopg.OperationalError subclasses).
RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one committed batch changed."""

    ticks: int
    game_events: int
    bets: int
    candles: int
    volumes: int


class Writer:
    """Owns the sink's database connection; every public call retries until the DB answers."""

    def __init__(
        self,
        dsn: str,
        group: str,
        log: logging.Logger,
        mode: WriteMode = "copy",
        retry_max_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._group = group
        self._log = log
        self._mode = mode
        self._retry_max_s = retry_max_s
        self._conn: AsyncConnection | None = None
        # The batch loop and the rebalance listener share the connection: one at a time.
        self._lock = asyncio.Lock()
        self.retries = 0

    async def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _retrying(self, what: str) -> AsyncRetrying:
        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            self._log.warning(
                "database unavailable, retrying",
                extra={
                    "operation": what,
                    "attempt": state.attempt_number,
                    "retry_in_s": round(state.upcoming_sleep, 2),
                    "error": str(exc).strip(),
                },
            )

        # Never gives up: skipping a batch would lose it; the process is stopped by a signal.
        return AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE),
            wait=wait_exponential_jitter(multiplier=0.1, max=self._retry_max_s, jitter=0.1),
            before_sleep=before_sleep,
            reraise=True,
        )

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
            conn = await AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=5)
            for staged in statements.ALL:
                await conn.execute(staged.create_sql())
            self._conn = conn
            self._log.info("database connected")
        return self._conn

    async def _run(self, what: str, fn: Any, *args: Any) -> Any:
        async with self._lock:
            return await self._run_locked(what, fn, *args)

    async def _run_locked(self, what: str, fn: Any, *args: Any) -> Any:
        async for attempt in self._retrying(what):
            with attempt:
                conn = await self._connection()
                try:
                    return await fn(conn, *args)
                except RETRYABLE:
                    await self.close()  # reconnect on the next attempt
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def load_offsets(self, partitions: Sequence[offsets.TopicPartition]) -> dict:
        """Stored next offsets of ``partitions`` (absent when never committed)."""
        return await self._run("load offsets", offsets.load, self._group, partitions)

    async def reset_offset(self, tp: offsets.TopicPartition, stale: int, start: int) -> bool:
        """The offset-outside-the-log rule: the stored offset moves to the log start."""
        return await self._run(
            "reset offset", offsets.reset_to_start, self._group, tp, stale, start
        )

    async def write(self, batch: BatchRows) -> WriteResult:
        """Commit the batch exactly once; raises ``offsets.StaleOffsets`` after a rollback."""
        return await self._run("write batch", self._write_once, batch)

    async def _write_once(self, conn: AsyncConnection, batch: BatchRows) -> WriteResult:
        async with conn.transaction(), conn.cursor() as cur:
            new_ticks = await self._insert(cur, statements.TICKS, batch.ticks, statements.NEW_TICKS)
            new_games = await self._insert(
                cur, statements.GAME_EVENTS, batch.game_events, statements.NEW_GAME_EVENTS
            )
            new_bets = await self._insert(cur, statements.BETS, batch.bets, statements.NEW_BETS)

            # Rollups only from rows that were really inserted: a re-read event adds nothing.
            ticks = batch.ticks
            if new_ticks is not None:
                ticks = [t for t in ticks if (t.event_id, t.selection_id) in new_ticks]
            bets = batch.bets
            if new_bets is not None:
                bets = [b for b in bets if (b.event_id,) in new_bets]
            candles = candle_rows(
                rollups.candles((t.market_id, t.selection_id, t.ts, t.seq, t.price) for t in ticks)
            )
            volumes = volume_rows(
                rollups.volumes((b.market_id, b.selection_id, b.ts, b.stake, b.price) for b in bets)
            )
            await self._upsert(cur, statements.CANDLES, candles)
            await self._upsert(cur, statements.BET_VOLUME, volumes)
            # Sorted by key, as the rollups: the same lock order in every sink.
            await self._upsert(cur, statements.GAMES, [batch.games[k] for k in sorted(batch.games)])
            await self._upsert(
                cur, statements.MARKETS, [batch.markets[k] for k in sorted(batch.markets)]
            )
            await offsets.commit(conn, self._group, batch.next_offsets)
        n_games = len(batch.game_events) if new_games is None else len(new_games)
        return WriteResult(len(ticks), n_games, len(bets), len(candles), len(volumes))

    async def _insert(
        self, cur: AsyncCursor, staged: Staged, rows: Sequence[tuple], new_sql: str
    ) -> set[tuple] | None:
        """Insert, ignoring duplicates; None when every row was new, else the new rows' keys."""
        if not rows:
            return None
        if self._mode == "copy":
            await self._copy(cur, staged, rows)
            await cur.execute(staged.from_stage())
            if cur.rowcount == len(rows):
                return None
            await cur.execute(new_sql)
            return set(await cur.fetchall())
        await cur.executemany(staged.from_values(), rows, returning=True)
        out: set[tuple] = set()
        while True:
            out.update(await cur.fetchall())
            if not cur.nextset():
                return None if len(out) == len(rows) else out

    async def _upsert(self, cur: AsyncCursor, staged: Staged, rows: Sequence[tuple]) -> None:
        if not rows:
            return
        if self._mode == "copy":
            await self._copy(cur, staged, rows)
            await cur.execute(staged.from_stage())
        else:
            await cur.executemany(staged.from_values(), rows)

    @staticmethod
    async def _copy(cur: AsyncCursor, staged: Staged, rows: Sequence[tuple]) -> None:
        async with cur.copy(staged.copy_sql()) as copy:
            copy.set_types(staged.types)
            for row in rows:
                await copy.write_row(row)
