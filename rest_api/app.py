"""Wiring: routes, middleware, error handlers, and the pools opened for the app's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from rest_api import openapi
from rest_api.caching import dumps
from rest_api.db import Database
from rest_api.errors import ApiError, MethodNotAllowed, NotFound
from rest_api.metrics import Metrics, MetricsMiddleware
from rest_api.ratelimit import RateLimitMiddleware, SlidingLogLimiter
from rest_api.resultcache import ResultCache
from rest_api.routes import games, markets, ops, search
from rest_api.settings import Settings

log = logging.getLogger("rest_api")


def _error_response(error: ApiError) -> Response:
    return Response(
        dumps(error.body()), error.status, headers=error.headers(), media_type="application/json"
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404 (no route) and 405 (wrong method), in our error shape.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error_response(NotFound(f"no route {request.url.path}"))
    if exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} not allowed on {request.url.path}")
        return _error_response(error)
    body = {"error": {"code": "http_error", "message": str(exc.detail)}}
    return Response(dumps(body), exc.status_code, media_type="application/json")


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Logged with its traceback here; the client sees no details.
    log.exception("unhandled error", extra={"path": request.url.path})
    return _error_response(ApiError("internal error"))


def all_routes() -> list[BaseRoute]:
    """Every route of the API."""
    return [*ops.routes, *games.routes, *markets.routes, *search.routes]


def create_app(settings: Settings) -> Starlette:
    """The ASGI app; the database pool and Redis open with the lifespan."""
    routes = all_routes()
    metrics = Metrics()
    redis_url = settings.redis_url.get_secret_value()
    redis = Redis.from_url(redis_url) if settings.api_rate_limit > 0 else None
    limiter = (
        SlidingLogLimiter(redis, settings.api_rate_limit, settings.api_rate_window_s)
        if redis is not None
        else None
    )

    # Metrics outermost, so rate-limited answers are counted too; no limiter, no layer.
    middleware = [Middleware(MetricsMiddleware, metrics=metrics, routes=routes)]
    if limiter is not None:
        middleware.append(
            Middleware(
                RateLimitMiddleware,
                limiter=limiter,
                trusted_hops=settings.api_trusted_hops if settings.api_trust_forwarded else 0,
            )
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await app.state.db.open()
        try:
            yield
        finally:
            await app.state.db.close()
            if redis is not None:
                await redis.aclose()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.db = Database(settings)
    app.state.results = ResultCache[tuple[bytes, str]](settings.api_result_cache_s)
    app.state.openapi_body = dumps(openapi.build(routes))
    return app
