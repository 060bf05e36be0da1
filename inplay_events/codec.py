"""orjson encoding and validating decoding of contract events."""

from __future__ import annotations

from typing import Any, cast

import orjson
from pydantic import ValidationError

from inplay_events.errors import InvalidEvent
from inplay_events.schema import MODEL_BY_TYPE, PROTOCOL_VERSION, Event


def encode(event: Event) -> bytes:
    """The event as compact JSON bytes (see ``to_dict``)."""
    return orjson.dumps(to_dict(event))


def to_dict(event: Event) -> dict[str, Any]:
    """The event as a plain dict: optional fields that are None left out, but ``line``,
    which the contract spells out as null for match_winner markets."""
    out = event.model_dump(mode="json", exclude_none=True)
    if event.type == "odds":
        out.setdefault("line", None)
    return out


def decode(raw: bytes | str | dict[str, Any]) -> Event:
    """Parse and validate one event; raise ``InvalidEvent`` naming the field and the reason."""
    if isinstance(raw, dict):
        obj: Any = raw
    else:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent("", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("", f"expected a JSON object, got {type(obj).__name__}")
    if "v" not in obj:
        raise InvalidEvent("v", "missing")
    if obj["v"] != PROTOCOL_VERSION or isinstance(obj["v"], bool):
        raise InvalidEvent("v", f"unknown version {obj['v']!r}; this consumer reads v1")
    if "type" not in obj:
        raise InvalidEvent("type", "missing")
    model = MODEL_BY_TYPE.get(obj["type"]) if isinstance(obj["type"], str) else None
    if model is None:
        known = ", ".join(MODEL_BY_TYPE)
        raise InvalidEvent("type", f"unknown type {obj['type']!r} (one of {known})")
    try:
        return cast(Event, model.model_validate(obj))
    except ValidationError as exc:
        raise _as_invalid(exc) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        # A validator that failed some other way must still not stop a consumer.
        raise InvalidEvent("", f"unreadable event: {exc}") from None


def _as_invalid(exc: ValidationError) -> InvalidEvent:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in err["loc"])
    message = err["msg"]
    if err["type"] == "missing":
        message = "missing"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        # Cross-field checks name their field in the message ("line: ...").
        if not field and ": " in message:
            field, message = message.split(": ", 1)
    return InvalidEvent(field, message)
