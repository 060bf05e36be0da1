"""Column kinds of the sink's rows: the type a field is staged as, and how it is stored.

A row is a NamedTuple whose field annotations are these kinds (``ts: TimeMs``); statements.py
reads them to build the staging tables, the COPY and INSERT column lists and the conversions,
so a new column is one new field. ``Annotated`` costs nothing at run time. No I/O.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any


@dataclass(frozen=True, slots=True)
class Column:
    """The type a field is staged as, and the SQL turning the staged value into the stored one."""

    pg_type: str
    # ``{}`` is the staged value; times travel as integer ms and are converted exactly, in SQL.
    stored: str = "{}"

    def store(self, staged: str) -> str:
        """The SQL expression storing the staged column (or expression) ``staged``."""
        return self.stored.format(staged)


Int4 = Annotated[int, Column("int4")]
Int8 = Annotated[int, Column("int8")]
Float8 = Annotated[float, Column("float8")]
Text = Annotated[str, Column("text")]
# JSON text, stored as jsonb.
Json = Annotated[str, Column("text", "{}::jsonb")]
# Integer ms since the Unix epoch, stored as timestamptz.
TimeMs = Annotated[int, Column("int8", "('epoch'::timestamptz + {} * interval '1 millisecond')")]
# Integer ms, stored as an interval.
DurationMs = Annotated[int, Column("int8", "{} * interval '1 millisecond'")]


# A NamedTuple class, whose annotations are its fields in order.
Row = type[tuple[Any, ...]]


def of(row: Row) -> tuple[tuple[str, Column], ...]:
    """The (name, column kind) of every field of the NamedTuple ``row``, in field order."""
    hints = typing.get_type_hints(row, include_extras=True)
    return tuple((name, _kind(row, name, hint)) for name, hint in hints.items())


def _kind(row: Row, name: str, hint: Any) -> Column:
    # ``Int4 | None`` is a Union holding the Annotated kind.
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [_metadata(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        found = kinds[0] if len(kinds) == 1 else None
    else:
        found = _metadata(hint)
    if found is None:
        raise TypeError(f"{row.__name__}.{name} is not annotated with a column kind")
    return found


def _metadata(hint: Any) -> Column | None:
    if typing.get_origin(hint) is not Annotated:
        return None
    return next((m for m in hint.__metadata__ if isinstance(m, Column)), None)
