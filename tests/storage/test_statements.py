"""The staged layouts come from the row types: they match the migrated tables column for column."""

from __future__ import annotations

from typing import NamedTuple

import psycopg
import pytest

from storage.migrate import migrate
from storage.sink import columns, statements
from storage.sink.columns import Int8, Text

# What each column kind must be stored as.
STORED_AS = {
    columns.Int4: "integer",
    columns.Int8: "bigint",
    columns.Float8: "double precision",
    columns.Text: "text",
    columns.Json: "jsonb",
    columns.TimeMs: "timestamp with time zone",
    columns.DurationMs: "interval",
}


def _kind_of(column: columns.Column) -> str:
    return next(stored for alias, stored in STORED_AS.items() if alias.__metadata__[0] == column)


def test_every_table_gets_each_of_its_columns_with_the_right_type(stack) -> None:
    migrate(stack.pg_dsn)
    with psycopg.connect(stack.pg_dsn) as conn:
        for staged in statements.ALL:
            table = dict(
                conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = %s",
                    (staged.table,),
                ).fetchall()
            )
            written = {name: _kind_of(kind) for name, kind in staged.kinds}
            assert written == table, staged.table


def test_a_field_without_a_column_kind_is_refused() -> None:
    class Loose(NamedTuple):
        event_id: Text
        seq: int

    with pytest.raises(TypeError, match=r"Loose\.seq"):
        columns.of(Loose)

    class Nullable(NamedTuple):
        seq: Int8 | None

    assert columns.of(Nullable) == (("seq", columns.Column("int8")),)
