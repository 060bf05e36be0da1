"""Every knob of the producer, read from environment variables (and overridden by CLI flags)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _random_run_id() -> str:
    return secrets.token_hex(3)


class Settings(BaseSettings):
    """The producer's settings; env var names are the field names in upper case."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", min_length=1, description="Kafka bootstrap servers, host:port[,...]."
    )
    kafka_idempotence: bool = Field(
        True,
        description="Use the idempotent producer: a retried send never writes a record twice.",
    )
    producer_name: str = Field(
        "sim",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="This producer's identity, in a header of every record it sends; a "
        "restarted producer ends the unfinished games of its own name only.",
    )
    end_abandoned: bool = Field(
        True,
        description="On start, end as cancelled (reason abandoned) every game this producer's "
        "previous runs left unfinished, before producing anything new.",
    )
    end_abandoned_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Give up reading the previous runs' games after this long (the games stay "
        "as they are, with a warning).",
    )
    sim_events_per_sec: float = Field(
        200.0,
        gt=0,
        description="Target total event rate; shapes how dense odds ticks and bets are.",
    )
    sim_games: int = Field(12, ge=1, le=10_000, description="Games running concurrently.")
    sim_seed: int | None = Field(
        None, description="Random seed; unset picks one and logs it, so a run can be repeated."
    )
    sim_duration_s: float | None = Field(
        None,
        gt=0,
        description="Stop after this many seconds (wall time when paced, event time otherwise); "
        "unset runs until stopped.",
    )
    sim_limit: int | None = Field(None, ge=1, description="Stop after this many events.")
    sim_speedup: float = Field(
        30.0, gt=0, description="Game clock speed relative to wall time (30: a half in 90 s)."
    )
    sim_pace: bool = Field(
        True,
        description="Emit each event when wall time reaches its ts; off emits as fast as "
        "possible (tests, benchmarks).",
    )
    sim_start_ms: int | None = Field(
        None, ge=0, description="Event time (ms UTC) of the simulation start; unset is now."
    )
    sim_run_id: str = Field(
        default_factory=_random_run_id,
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Prefix of game, market and bet ids (account ids do not depend on it); "
        "unset is random short hex.",
    )
    sim_accounts: int = Field(500, ge=1, le=1_000_000, description="Simulated betting accounts.")
    sim_record: Path | None = Field(
        None, description="Also write every produced event to this file, one JSON line each."
    )
    sim_replay: Path | None = Field(
        None,
        description="Produce the events of this JSONL recording instead of simulating "
        "(validated, in file order, paced by their ts gaps when pacing).",
    )
    producer_ops_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address the ops port (/health, /ready, /metrics) binds to.",
    )
    producer_ops_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The ops port: /health, /ready (connected to Kafka), /metrics; 0 serves none.",
    )
    log_level: str = Field(
        "INFO",
        pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="Log level.",
    )
