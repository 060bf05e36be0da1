"""Query and path parameters: one parser per kind, each describing itself for OpenAPI.

A parameter object parses its raw text (pure, no I/O) and writes its OpenAPI parameter object
from the same fields, so the document cannot state other limits than the code checks. A bad
value raises :class:`BadParameter` naming the parameter: a 400 that says what to fix, never a
500.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from starlette.requests import Request

from rest_api import cursor
from rest_api.errors import BadParameter

T = TypeVar("T")
V = TypeVar("V")
Location = Literal["query", "path"]

MAX_TEXT = 200
# PostgreSQL text cannot hold NUL, so no id or name contains one (and psycopg refuses to send
# it): a NUL is a bad parameter, not a database error.
NUL = "\x00"
_NO_NUL = "^[^\\u0000]*$"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Far enough from datetime's limits that default spans and bucket flooring stay valid.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Param(ABC, Generic[T]):
    """One parameter of an operation: parses its raw text, and documents itself."""

    name: str
    description: str
    location: Location = field(default="query", kw_only=True)

    @abstractmethod
    def parse(self, raw: str | None) -> T:
        """The value of the raw text (None when absent); raises ``BadParameter``."""

    @abstractmethod
    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the raw text, with every limit ``parse`` checks."""

    @property
    def required(self) -> bool:
        """Whether a request must carry it (path parameters always do)."""
        return self.location == "path"

    def of(self, request: Request) -> T:
        """The parameter's value in ``request``."""
        source: Mapping[str, Any] = (
            request.path_params if self.location == "path" else request.query_params
        )
        return self.parse(source.get(self.name))

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "required": self.required,
            "schema": self.schema(),
        }

    def bad(self, reason: str) -> BadParameter:
        """The error naming this parameter."""
        return BadParameter(self.name, reason)


def _checked_text(param: Param[Any], value: str, max_length: int, reason: str) -> str:
    if not value or len(value) > max_length:
        raise param.bad(reason)
    if NUL in value:
        raise param.bad("must not contain NUL characters")
    return value


def _text_schema(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _NO_NUL}


@dataclass(frozen=True)
class Text(Param[str | None]):
    """An optional free-text filter (exact match)."""

    max_length: int = field(default=MAX_TEXT, kw_only=True)

    def parse(self, raw: str | None) -> str | None:
        """None when absent, else the text, 1 to ``max_length`` characters."""
        if raw is None:
            return None
        return _checked_text(
            self, raw, self.max_length, f"must be 1 to {self.max_length} characters"
        )

    def schema(self) -> dict[str, Any]:
        """A string of 1 to ``max_length`` characters, no NUL."""
        return _text_schema(self.max_length)


@dataclass(frozen=True)
class Identifier(Param[str]):
    """A path id: non-empty and short (anything longer cannot exist)."""

    location: Location = field(default="path", kw_only=True)
    max_length: int = field(default=MAX_TEXT, kw_only=True)

    def parse(self, raw: str | None) -> str:
        """The id, 1 to ``max_length`` characters."""
        reason = f"must be 1 to {self.max_length} characters"
        return _checked_text(self, raw or "", self.max_length, reason)

    def schema(self) -> dict[str, Any]:
        """A string of 1 to ``max_length`` characters, no NUL."""
        return _text_schema(self.max_length)


@dataclass(frozen=True)
class SearchText(Param[str]):
    """Required text that users type: trimmed, then 1 to ``max_length`` characters."""

    max_length: int = field(kw_only=True)

    @property
    def required(self) -> bool:
        """Always."""
        return True

    def parse(self, raw: str | None) -> str:
        """The text without surrounding whitespace."""
        reason = f"required, 1 to {self.max_length} characters"
        return _checked_text(self, (raw or "").strip(), self.max_length, reason)

    def schema(self) -> dict[str, Any]:
        """A string of 1 to ``max_length`` characters (after trimming), no NUL."""
        return _text_schema(self.max_length)


@dataclass(frozen=True)
class Choice(Param[str | None]):
    """An optional value that must be one of ``allowed``."""

    allowed: tuple[str, ...] = field(kw_only=True)

    def parse(self, raw: str | None) -> str | None:
        """None when absent, else one of ``allowed``."""
        if raw is None:
            return None
        if raw not in self.allowed:
            raise self.bad(f"must be one of {', '.join(self.allowed)} (got {raw[:40]!r})")
        return raw

    def schema(self) -> dict[str, Any]:
        """An enum of ``allowed``."""
        return {"type": "string", "enum": list(self.allowed)}


@dataclass(frozen=True)
class OneOf(Param[V]):
    """A required name, one of ``options``' keys; parses to the value it names."""

    options: Mapping[str, V] = field(kw_only=True)

    @property
    def required(self) -> bool:
        """Always."""
        return True

    def parse(self, raw: str | None) -> V:
        """The option named by ``raw``."""
        names = ", ".join(self.options)
        if raw is None:
            raise self.bad(f"required, one of {names}")
        try:
            return self.options[raw]
        except KeyError:
            raise self.bad(f"must be one of {names} (got {raw[:40]!r})") from None

    def schema(self) -> dict[str, Any]:
        """An enum of the option names."""
        return {"type": "string", "enum": list(self.options)}


@dataclass(frozen=True)
class Integer(Param[int]):
    """An optional integer from ``minimum`` to ``maximum``, ``default`` when absent."""

    default: int = field(kw_only=True)
    minimum: int = field(kw_only=True)
    maximum: int = field(kw_only=True)

    def parse(self, raw: str | None) -> int:
        """The integer, in range."""
        if raw is None:
            return self.default
        bounds = f"must be an integer from {self.minimum} to {self.maximum}"
        try:
            value = int(raw)
        except ValueError:
            raise self.bad(bounds) from None
        if not self.minimum <= value <= self.maximum:
            raise self.bad(f"{bounds} (got {value})")
        return value

    def schema(self) -> dict[str, Any]:
        """An integer with its bounds and default."""
        return {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }


def _epoch_ms(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class Timestamp(Param[datetime | None]):
    """An optional instant: ISO 8601 (no zone means UTC) or integer epoch milliseconds."""

    def parse(self, raw: str | None) -> datetime | None:
        """None when absent, else an aware datetime between ``EARLIEST`` and ``LATEST``."""
        if raw is None:
            return None
        try:
            if raw.lstrip("-").isdigit():
                parsed = _EPOCH + timedelta(milliseconds=int(raw))
            else:
                parsed = datetime.fromisoformat(raw)
        except (ValueError, OverflowError):
            raise self.bad(
                "must be an ISO 8601 time or epoch milliseconds (e.g. 2024-05-01T12:00:00Z)"
            ) from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if not EARLIEST <= parsed <= LATEST:
            raise self.bad(f"must be between the years {EARLIEST.year} and {LATEST.year}")
        return parsed

    def schema(self) -> dict[str, Any]:
        """A date-time, or epoch milliseconds within the same years."""
        return {
            "oneOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "minimum": _epoch_ms(EARLIEST), "maximum": _epoch_ms(LATEST)},
            ]
        }


@dataclass(frozen=True)
class Cursor(Param[cursor.Position | None]):
    """An optional opaque cursor from a previous page (see ``rest_api.cursor``)."""

    def parse(self, raw: str | None) -> cursor.Position | None:
        """None when absent, else the position it points after."""
        if raw is None:
            return None
        try:
            return cursor.decode(raw)
        except ValueError as exc:
            raise self.bad(str(exc)) from None

    def schema(self) -> dict[str, Any]:
        """An opaque string."""
        return {"type": "string"}
