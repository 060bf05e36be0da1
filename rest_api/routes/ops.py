"""Operational endpoints: liveness, readiness, Prometheus metrics, the spec and its page."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from rest_api.bodies import Health, OpenApiDocument
from rest_api.caching import json_response
from rest_api.docs_page import DOCS_HTML
from rest_api.errors import DatabaseUnavailable
from rest_api.openapi import Operation, operation


@operation(Operation(summary="The process is alive.", tag="ops", response=Health))
async def health(request: Request) -> Response:
    """Always 200 while the process serves requests."""
    body: Health = {"status": "ok"}
    return json_response(body)


@operation(
    Operation(
        summary="The database is reachable (200), or not (503).",
        tag="ops",
        response=Health,
        errors=(DatabaseUnavailable,),
    )
)
async def ready(request: Request) -> Response:
    """200 once a database round trip succeeds; raises 503's error otherwise."""
    await request.app.state.db.ping()
    body: Health = {"status": "ready"}
    return json_response(body)


@operation(
    Operation(
        summary="Prometheus metrics: request counts and latency per route template.",
        tag="ops",
        response=str,
        media_type="text/plain",
    )
)
async def metrics(request: Request) -> Response:
    """The text exposition format of the app's registry."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@operation(Operation(summary="This OpenAPI 3.1 document.", tag="ops", response=OpenApiDocument))
async def openapi_json(request: Request) -> Response:
    """The document, built once at start-up."""
    return Response(request.app.state.openapi_body, media_type="application/json")


@operation(
    Operation(
        summary="A page rendering the OpenAPI document.",
        tag="ops",
        response=str,
        media_type="text/html",
    )
)
async def docs(request: Request) -> Response:
    """Self-contained HTML; fetches openapi.json relative to itself."""
    return HTMLResponse(DOCS_HTML)


routes = [
    Route("/health", health, methods=["GET"], name="health"),
    Route("/ready", ready, methods=["GET"], name="ready"),
    Route("/metrics", metrics, methods=["GET"], name="metrics"),
    Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
    Route("/docs", docs, methods=["GET"], name="docs"),
]
