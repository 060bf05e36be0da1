"""Settings of the storage processes, read from the environment once."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    """Where the database is."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    # Secret: a URL may carry a password, and the settings are logged at start-up.
    database_url: SecretStr = Field(SecretStr("postgresql://postgres@127.0.0.1:15432/inplay"))
    log_level: str = "INFO"


class SinkSettings(StorageSettings):
    """The sink: env DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS and SINK_* for the rest."""

    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", min_length=1)
    kafka_idempotence: bool = Field(
        True, description="Idempotent dead-letter producer (retries never write a record twice)."
    )
    sink_group_id: str = Field("timescale-sink", min_length=1, description="Consumer group.")
    sink_topics: tuple[str, ...] = Field(("games", "odds", "bets"), min_length=1)
    sink_max_batch: int = Field(
        20_000, ge=1, le=100_000, description="Records per transaction at most."
    )
    sink_poll_timeout_ms: int = Field(200, ge=1, le=60_000)
    sink_write_mode: Literal["copy", "executemany"] = Field(
        "copy", description="How rows reach the database: COPY into staging, or executemany."
    )
    sink_instance_id: str | None = Field(
        None,
        description="Static group membership (e.g. the pod name): a restarted sink takes its "
        "partitions back at once instead of after the session timeout. Unique per replica.",
    )
    sink_session_timeout_ms: int = Field(
        10_000, ge=1000, description="How soon the group notices a consumer that died."
    )
    sink_retry_max_s: float = Field(
        5.0, gt=0, description="Longest pause between retries while the database is down."
    )
    # Positive: zero or less ("0d", "-P1D") would delete everything stored, every run.
    sink_raw_retention: timedelta = Field(
        timedelta(days=7),
        gt=timedelta(0),
        description="Raw-event chunks older than this are dropped (e.g. 7d, P7D, 168:00:00).",
    )
    sink_rollup_retention: timedelta = Field(
        timedelta(days=90),
        gt=timedelta(0),
        description="Candles and bet volume older than this are deleted.",
    )
    sink_retention_every_s: float = Field(
        3600.0, gt=0, description="How often the sink applies the retention rules."
    )
    sink_report_every_s: float = Field(5.0, gt=0, description="Throughput log interval.")
    sink_ops_host: str = Field("127.0.0.1", min_length=1, description="Ops port address.")
    sink_ops_port: int = Field(
        0, ge=0, le=65535, description="/health, /ready and /metrics; 0 serves none."
    )
    sink_ready_max_lag: int = Field(
        50_000, ge=0, description="/ready fails while more records than this are unwritten."
    )
