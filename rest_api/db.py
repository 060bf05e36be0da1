"""The database adapter: a psycopg async pool whose failures become ``DatabaseUnavailable``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from rest_api.errors import DatabaseUnavailable
from rest_api.settings import Settings


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
        self, sql: str, params: Any = None, *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """All rows of one query (``binary``: rows in the binary format, cheaper to parse)."""
        async with self.connection() as conn:
            cur = await conn.execute(sql, params, binary=binary)  # type: ignore[arg-type]
            return await cur.fetchall()

    async def ping(self) -> None:
        """Round-trip ``SELECT 1``; raises ``DatabaseUnavailable`` when it cannot."""
        await self.fetch_all("SELECT 1")
