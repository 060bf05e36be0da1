"""How errors become responses: the handlers Starlette calls, and a last guard for the rest.

Every error answer is the JSON of its ``ApiError``. An exception nothing handled is logged
with its traceback and answered 500 with ``Connection: close``, instead of Starlette's
last-resort handler, which re-raises so that the server drops the connection unannounced.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rest_api.caching import dumps
from rest_api.errors import ApiError, MethodNotAllowed, NotFound

log = logging.getLogger("rest_api")


def error_response(error: ApiError) -> Response:
    """The JSON answer of ``error``, with its headers."""
    headers = error.headers()
    if error.status == 500:
        # Something is in an unknown state: the client is told, and reconnects afresh.
        headers["Connection"] = "close"
    return Response(
        dumps(error.body()), error.status, headers=headers, media_type="application/json"
    )


async def api_error(request: Request, exc: Exception) -> Response:
    """Starlette's handler of ``ApiError``."""
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), in the API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"no route {request.url.path}"))
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "").split(",")
        return error_response(
            MethodNotAllowed(
                f"{request.method} not allowed on {request.url.path}",
                allowed=[method.strip() for method in allowed if method.strip()],
            )
        )
    body = {"error": {"code": "http_error", "message": str(exc.detail)}}
    return Response(dumps(body), exc.status_code, media_type="application/json")


class InternalErrorMiddleware:
    """Answers any exception that escaped the handlers with the JSON 500, logged once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; an escaped exception becomes the 500 answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_started)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            if started:
                raise  # too late for an error answer: the server closes the connection
            await error_response(ApiError("internal error"))(scope, receive, send)
