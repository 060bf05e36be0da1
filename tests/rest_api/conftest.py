"""Fixtures of the REST API tests: the seeded harness database and an in-process app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from storage.migrate import migrate
from tests.rest_api.helpers import (
    CANDLES,
    EVENTS,
    GAMES,
    M1,
    M1_PRICES,
    PAGING,
    T0,
    VOLUME,
    AppClient,
    insert_game,
    settings_for,
)


@pytest.fixture(scope="session")
def seeded(stack: Any) -> str:
    """The harness database, migrated and holding the rows above; returns its DSN."""
    migrate(stack.pg_dsn)
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn, conn.cursor() as cur:
        for g in GAMES + PAGING:
            insert_game(cur, g)
        cur.execute(
            "INSERT INTO markets VALUES (%s, 'rt-g1', 'match_winner', NULL, 'open', %s, 7, %s)",
            (M1, orjson.dumps(M1_PRICES).decode(), T0),
        )
        cur.execute(
            "INSERT INTO markets VALUES ('rt-m2', 'rt-g1', 'total', 2.5, 'suspended',"
            ' \'{"over": 1.9, "under": 1.95}\', 8, %s)',
            (T0,),
        )
        for width, sel, bucket, o, h, lo, c, ticks in CANDLES:
            cur.execute(
                "INSERT INTO candles VALUES (%s::interval, %s, %s, %s, %s, %s, %s, %s,"
                " %s, 1, %s, 2, %s)",
                (width, M1, sel, bucket, o, h, lo, c, bucket, bucket, ticks),
            )
        for width, sel, bucket, bets, stake, payout in VOLUME:
            cur.execute(
                "INSERT INTO bet_volume VALUES (%s::interval, %s, %s, %s, %s, %s, %s)",
                (width, M1, sel, bucket, bets, stake, payout),
            )
        for seq, kind, status, score, period, clock, offset in EVENTS:
            cur.execute(
                "INSERT INTO game_events VALUES (%s, %s, 'rt-g1', %s, %s, %s, %s, %s, %s, %s,"
                " '{}')",
                (T0 + offset, f"rt-e{seq}", seq, kind, status, score[0], score[1], period, clock),
            )
    return stack.pg_dsn


@pytest.fixture(scope="session")
async def client(seeded: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over the seeded database, rate limiting off."""
    async with AppClient(settings_for(seeded)) as http:
        yield http
