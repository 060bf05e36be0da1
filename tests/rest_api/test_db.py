"""Rows by name: the row type's fields are the select list, and a mismatch fails loudly."""

from __future__ import annotations

from typing import NamedTuple

import psycopg
import pytest

from rest_api.db import columns, fetch


class Pair(NamedTuple):
    game_id: str
    league: str


def test_columns_is_the_select_list_of_the_fields() -> None:
    assert columns(Pair) == "game_id, league"
    assert columns(Pair, "g") == "g.game_id, g.league"


async def test_rows_come_back_named_and_other_columns_are_refused(seeded: str) -> None:
    async with await psycopg.AsyncConnection.connect(seeded) as conn:
        sql = f"SELECT {columns(Pair)} FROM games WHERE game_id = %s"
        for binary in (False, True):
            (row,) = await fetch(conn, Pair, sql, ["rt-g1"], binary=binary)
            assert isinstance(row, Pair)
            assert (row.game_id, row.league) == ("rt-g1", "Premier League")
        with pytest.raises(TypeError, match="Pair"):
            await fetch(conn, Pair, "SELECT league, game_id FROM games LIMIT 1")
        assert await fetch(conn, Pair, sql, ["nope"]) == []
