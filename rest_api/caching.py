"""JSON responses with a weak ETag of their body, answering 304 when the client has it."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(payload: Any) -> bytes:
    """The API's JSON encoding (UTC times end in "Z")."""
    return orjson.dumps(payload, option=JSON_OPTIONS)


def etag_of(body: bytes) -> str:
    """A weak validator: the same JSON body always gets the same tag."""
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, lists and *)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(",")
    )


def json_response(payload: Any, status_code: int = 200) -> Response:
    """A JSON response without caching headers."""
    return Response(dumps(payload), status_code, media_type="application/json")


def encoded(payload: Any) -> tuple[bytes, str]:
    """The JSON body of ``payload`` and its ETag (what ``ResultCache`` keeps)."""
    body = dumps(payload)
    return body, etag_of(body)


def cached_json(request: Request, payload: Any, max_age_s: int) -> Response:
    """A JSON response with ETag and Cache-Control, or an empty 304 when the tag matches."""
    return conditional(request, *encoded(payload), max_age_s)


def conditional(request: Request, body: bytes, etag: str, max_age_s: int) -> Response:
    """The encoded body with ETag and Cache-Control, or an empty 304 when the tag matches."""
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age_s}" if max_age_s else "no-cache",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, 200, headers=headers, media_type="application/json")
