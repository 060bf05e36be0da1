"""Wiring: routes, middleware, error handlers, and the pools opened for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from rest_api import openapi
from rest_api.caching import dumps
from rest_api.db import Database
from rest_api.error_handlers import InternalErrorMiddleware, api_error, http_error
from rest_api.errors import ApiError
from rest_api.metrics import Metrics, MetricsMiddleware
from rest_api.ratelimit import RateLimitMiddleware, SlidingLogLimiter
from rest_api.resultcache import ResultCache
from rest_api.routes import games, markets, ops, search
from rest_api.settings import Settings


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

    # Metrics outermost, so rate-limited and 500 answers are counted too; then the guard that
    # turns any escaped exception into the JSON 500; no limiter, no layer.
    middleware = [
        Middleware(MetricsMiddleware, metrics=metrics, routes=routes),
        Middleware(InternalErrorMiddleware),
    ]
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
        exception_handlers={ApiError: api_error, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.db = Database(settings)
    app.state.results = ResultCache[tuple[bytes, str]](settings.api_result_cache_s)
    app.state.openapi_body = dumps(openapi.build(routes))
    return app
