"""The REST API's settings, read from environment variables once at start-up."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of ``python -m rest_api``; env var names are the field names in upper case."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:15432/inplay"),
        description="libpq URL of the TimescaleDB database (masked in the start-up log).",
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:16379/0"),
        description="Redis, for rate limiting (may hold a password: masked in the start-up log).",
    )
    api_host: str = Field("127.0.0.1", description="Address to listen on.")
    api_port: int = Field(18000, ge=1, le=65535, description="Port to listen on.")
    api_rate_limit: int = Field(
        0, ge=0, description="Requests per client per window on /v1; 0 turns rate limiting off."
    )
    api_rate_window_s: float = Field(60.0, gt=0, le=86_400, description="Rate-limit window.")
    api_trust_forwarded: bool = Field(
        False,
        description="Key clients by X-Forwarded-For (only behind proxies that append to it); "
        "otherwise by the peer address.",
    )
    api_trusted_hops: int = Field(
        1,
        ge=1,
        le=20,
        description="Proxies in front of the API that append to X-Forwarded-For: the client "
        "is the entry this many from the right (what a client sends itself is further left).",
    )
    api_cache_max_age_s: int = Field(
        5, ge=0, le=3600, description="Cache-Control max-age of candle and volume responses."
    )
    api_result_cache_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Identical candle/volume queries within this many seconds share one "
        "database query (0: off). Keep it at most API_CACHE_MAX_AGE_S.",
    )
    api_access_log: bool = Field(False, description="Log every request (costly under load).")
    db_pool_min: int = Field(2, ge=0, le=100, description="Connections kept open.")
    db_pool_max: int = Field(10, ge=1, le=200, description="Most connections opened.")
    db_timeout_s: float = Field(
        2.0, gt=0, le=60, description="Wait for a pooled connection before answering 503."
    )
    log_level: str = Field(
        "INFO", pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$", description="Log level."
    )
