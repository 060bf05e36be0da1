"""``/v1/markets/{id}/…``: candles, bet volume and exposure of one market."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rest_api import params, timerange
from rest_api.bodies import Candles, Exposure, Volume
from rest_api.caching import cached_json, conditional, encoded
from rest_api.db import Database
from rest_api.errors import DatabaseUnavailable, NotFound
from rest_api.openapi import Operation, operation
from rest_api.queries import markets
from rest_api.settings import Settings

SeriesLoader = Callable[[Database, str, timedelta, datetime, datetime], Awaitable[Any | None]]

MARKET_ID = params.Identifier("market_id", "Market id.")
_ERRORS = (NotFound, DatabaseUnavailable)
_RANGE = (MARKET_ID, *timerange.PARAMS)
_RESULT_CACHE_S = Settings.model_fields["api_result_cache_s"].default


async def _series_response(request: Request, kind: str, load: SeriesLoader) -> Response:
    """Candles or volume: cached a moment by normalised question, conditional on the ETag."""
    market_id = MARKET_ID.of(request)
    every, start, end = timerange.requested(request, datetime.now(UTC))
    state = request.app.state

    async def compute() -> tuple[bytes, str]:
        series = await load(state.db, market_id, every.width, start, end)
        if series is None:
            raise NotFound(f"no market {market_id!r}")
        body: Candles | Volume = {
            "market_id": market_id,
            "interval": every.name,
            "from": start,
            "to": end,
            "selections": series,
        }
        return encoded(body)

    body, etag = await state.results.get((kind, market_id, every.name, start, end), compute)
    return conditional(request, body, etag, state.settings.api_cache_max_age_s)


@operation(
    Operation(
        summary="Price candles (open, high, low, close, ticks) per selection per bucket.",
        tag="markets",
        response=Candles,
        params=_RANGE,
        errors=_ERRORS,
        cached=True,
        description="Buckets whose start lies in [from, to); from is floored to a bucket "
        "start. Selections without ticks in range are absent. Identical questions within "
        f"API_RESULT_CACHE_S (default {_RESULT_CACHE_S:g} s) share one database query.",
    )
)
async def get_candles(request: Request) -> Response:
    """Candles of the market, or 404."""
    return await _series_response(request, "candles", markets.candles)


@operation(
    Operation(
        summary="Bets, stake and payout per selection per bucket.",
        tag="markets",
        response=Volume,
        params=_RANGE,
        errors=_ERRORS,
        cached=True,
        description="Same range rules as candles. Stakes are integer minor units.",
    )
)
async def get_volume(request: Request) -> Response:
    """Bet volume of the market, or 404."""
    return await _series_response(request, "volume", markets.volume)


@operation(
    Operation(
        summary="Per selection: stakes taken and the payout liability if it wins.",
        tag="markets",
        response=Exposure,
        params=(MARKET_ID,),
        errors=_ERRORS,
        cached=True,
        description="net = payout of that selection - total stakes of the market (what the "
        "book loses if it wins). Every selection of the market's current prices is listed.",
    )
)
async def get_exposure(request: Request) -> Response:
    """Exposure of the market, or 404."""
    market_id = MARKET_ID.of(request)
    result = await markets.exposure(request.app.state.db, market_id)
    if result is None:
        raise NotFound(f"no market {market_id!r}")
    return cached_json(request, result, max_age_s=1)


routes = [
    Route("/v1/markets/{market_id}/candles", get_candles, methods=["GET"], name="get_candles"),
    Route("/v1/markets/{market_id}/volume", get_volume, methods=["GET"], name="get_volume"),
    Route("/v1/markets/{market_id}/exposure", get_exposure, methods=["GET"], name="get_exposure"),
]
