"""The database adapter: a psycopg async pool whose failures become ``DatabaseUnavailable``,
and rows read by name (each query's row is a ``NamedTuple`` whose fields are its columns).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache, partial
from typing import Any, NamedTuple, TypeVar, cast

import psycopg
from psycopg import AsyncConnection
from psycopg.cursor_async import AsyncCursor
from psycopg.rows import BaseRowFactory, RowMaker
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rest_api.errors import DatabaseUnavailable
from rest_api.settings import Settings

R = TypeVar("R", bound=NamedTuple)


def columns(row: type[NamedTuple], alias: str = "") -> str:
    """The select list of ``row``'s fields (``c.bucket, c.open, ...`` with ``alias`` c)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + name for name in row._fields)


@cache
def named(row: type[R]) -> BaseRowFactory[R]:
    """A row factory making a ``row`` of each result row; the query's column names must be
    ``row``'s fields, in order, or it raises ``TypeError`` before the first row is read."""
    # What NamedTuple._make does, minus its per-row length check (the names were checked),
    # in C: the candle path reads 180 rows a request.
    make = cast(RowMaker[R], partial(tuple.__new__, row))
    # Compared as the raw names libpq returns: cursor.description would build a Column object
    # per column per query, which costs more than the rows' names are worth.
    expected = tuple(name.encode() for name in row._fields)

    def factory(cursor: Any) -> RowMaker[R]:
        result = cursor.pgresult
        if result is not None and result.nfields:
            names = tuple(result.fname(i) for i in range(result.nfields))
            if names != expected:
                raise TypeError(f"query columns {names} are not {row.__name__}{row._fields}")
        return make

    return factory


async def fetch(
    conn: AsyncConnection,
    row: type[R],
    sql: str,
    params: Sequence[Any] = (),
    *,
    binary: bool = False,
) -> list[R]:
    """All rows of one query on ``conn``, as ``row`` (``binary``: cheaper to parse)."""
    cur: AsyncCursor[R]
    async with conn.cursor(row_factory=named(row)) as cur:
        await cur.execute(sql, params, binary=binary)
        return await cur.fetchall()


async def _configure(conn: AsyncConnection) -> None:
    # Timestamps come back in UTC whatever the server's zone, so JSON always ends in "Z".
    await conn.execute("SET TIME ZONE 'UTC'")


class Database:
    """A pool of autocommit connections; every query is a read."""

    def __init__(self, settings: Settings) -> None:
        self.timeout_s = settings.db_timeout_s
        self.pool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_timeout_s,
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name="rest_api",
        )

    async def open(self) -> None:
        """Start the pool without waiting: the API starts (and reports not ready) while down."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close every connection."""
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection; an unreachable or failing database raises 503's error."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise DatabaseUnavailable(
                f"no database connection within {self.timeout_s:g} s"
            ) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"database error: {type(exc).__name__}") from None

    async def fetch_all(
        self, row: type[R], sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[R]:
        """All rows of one query, as ``row`` (``binary``: rows in the binary format)."""
        async with self.connection() as conn:
            return await fetch(conn, row, sql, params, binary=binary)

    async def ping(self) -> None:
        """Round-trip ``SELECT 1``; raises ``DatabaseUnavailable`` when it cannot."""
        async with self.connection() as conn:
            await conn.execute("SELECT 1")
