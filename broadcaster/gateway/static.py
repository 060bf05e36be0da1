"""The JS client served by the gateway itself, so a page loads it from where its socket is.

``GET /inplay.js`` on the gateway's port answers with ``broadcaster/static/inplay.js``;
anything else that is not the WebSocket path stays a 404.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

CLIENT_PATH = "/inplay.js"


@cache
def _client() -> tuple[bytes, str]:
    body = resources.files("broadcaster").joinpath("static", "inplay.js").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def client_response(request: Request) -> Response:
    """200 with the client (304 when the browser's copy is current)."""
    body, etag = _client()
    headers = Headers(
        [
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Cache-Control", "public, max-age=300"),
            ("ETag", etag),
            # A page on another origin may load it with fetch() or a module loader too.
            ("Access-Control-Allow-Origin", "*"),
        ]
    )
    if request.headers.get("If-None-Match") == etag:
        return Response(304, "Not Modified", headers)
    headers["Content-Length"] = str(len(body))
    return Response(200, "OK", headers, body)
