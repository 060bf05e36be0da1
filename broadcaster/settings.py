"""Settings of the two broadcaster processes, read from the environment once at start-up."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_LOG_LEVEL = r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"


class IngestSettings(BaseSettings):
    """``python -m broadcaster ingest``: env var names are the field names in upper case."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    kafka_bootstrap_servers: str = Field("127.0.0.1:19092", min_length=1)
    kafka_idempotence: bool = Field(
        True, description="Idempotent dead-letter producer (retries never write a record twice)."
    )
    redis_url: SecretStr = Field(
        SecretStr(DEFAULT_REDIS_URL),
        min_length=1,
        description="May hold a password: masked in the start-up log.",
    )
    ingest_group_id: str = Field("fanout", min_length=1, description="Kafka consumer group.")
    ingest_batch_max: int = Field(
        200, ge=1, le=5000, description="Events per Redis script call (one atomic step each)."
    )
    ingest_history_maxlen: int = Field(
        1000, ge=10, description="Entries kept in each channel's history (approximate trim)."
    )
    ingest_history_ttl_s: float = Field(
        600.0, gt=0, description="A channel's history is dropped after this long without events."
    )
    ingest_dedupe_ttl_s: float = Field(
        3600.0, gt=0, description="How long an event id is remembered for dedupe."
    )
    ingest_user_bets: int = Field(
        50, ge=1, le=10_000, description="Most recent bets a user:<account> state keeps."
    )
    ingest_ended_ttl_s: float = Field(
        3600.0,
        gt=0,
        description="A settled or cancelled game's game:<id> channel (numbering, state, "
        "history) is dropped this long after it ended; a later event starts a new epoch.",
    )
    ingest_user_ttl_s: float = Field(
        86_400.0,
        gt=0,
        description="A user:<account> channel's keys live this long after the account's last "
        "bet (a later bet starts a new epoch).",
    )
    ingest_commit_interval_ms: int = Field(
        200, ge=0, description="Kafka offsets are committed at most this often (after Redis)."
    )
    ingest_fetch_max_wait_ms: int = Field(
        10,
        ge=0,
        le=5000,
        description="Longest a Kafka fetch waits for data; the broker answers an idle fetch "
        "at this deadline, so it bounds the feed's added latency.",
    )
    ingest_ops_host: str = Field("127.0.0.1", min_length=1, description="Ops port address.")
    ingest_ops_port: int = Field(
        0, ge=0, le=65535, description="/health, /ready and /metrics; 0 serves none."
    )
    ingest_ready_max_lag: int = Field(
        2_000, ge=0, description="/ready fails while more records than this are unapplied."
    )
    log_level: str = Field("INFO", pattern=_LOG_LEVEL)


class GatewaySettings(BaseSettings):
    """``python -m broadcaster gateway``: env var names are the field names in upper case."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    redis_url: SecretStr = Field(
        SecretStr(DEFAULT_REDIS_URL),
        min_length=1,
        description="May hold a password: masked in the start-up log.",
    )
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(18765, ge=0, le=65535)
    gateway_metrics_port: int = Field(18766, ge=0, le=65535, description="0 disables /metrics.")
    gateway_allowed_origins: str = Field(
        "*",
        description="Comma-separated Origin values allowed to connect ('*' any; "
        "'null' allows clients that send no Origin, e.g. servers).",
    )
    gateway_path: str = "/ws"
    gateway_heartbeat_ms: int = Field(
        10_000, ge=100, description="Server heartbeat interval; clients should ping as often."
    )
    gateway_dead_peer_ms: int = Field(
        30_000, ge=200, description="Close with 4002 when nothing arrived for this long."
    )
    gateway_coalesce_ms: float = Field(
        5.0, ge=0, le=100, description="Messages for one client within this window share a frame."
    )
    gateway_max_frame_bytes: int = Field(
        16_384, ge=256, description="Largest client frame; bigger ones close with 1009."
    )
    gateway_max_subscriptions: int = Field(100, ge=1, description="Channels per connection.")
    gateway_subscribe_rate: float = Field(
        20.0, gt=0, description="Subscribe/unsubscribe ops per second per connection (sustained)."
    )
    gateway_subscribe_burst: int = Field(40, ge=1, description="... and in a burst.")
    gateway_max_connections: int = Field(20_000, ge=1, description="Connections per process.")
    gateway_max_connections_per_ip: int = Field(1_000, ge=1)
    gateway_soft_buffer_bytes: int = Field(
        256 * 1024, ge=1024, description="Above this outbound backlog, odds are conflated."
    )
    gateway_hard_buffer_bytes: int = Field(
        1024 * 1024, ge=2048, description="Above this outbound backlog, close with 4008."
    )
    gateway_slow_close_after_ms: int = Field(
        10_000, ge=100, description="Close with 4008 when stuck above the soft mark this long."
    )
    gateway_socket_sndbuf: int = Field(
        0, ge=0, description="SO_SNDBUF per connection (0: the OS default)."
    )
    gateway_close_timeout_ms: int = Field(
        2_000, ge=10, description="Wait this long for a closing handshake, then drop the TCP."
    )
    jwt_algorithm: str = Field("HS256", pattern=r"^(HS256|RS256)$")
    jwt_secret: SecretStr | None = Field(None, description="HS256 shared secret.")
    jwt_public_key: SecretStr | None = Field(None, description="RS256 public key (PEM).")
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_s: float = Field(0.0, ge=0)
    log_level: str = Field("INFO", pattern=_LOG_LEVEL)

    def origins(self) -> frozenset[str] | None:
        """The allowed Origin values, or None when any is allowed."""
        items = {o.strip() for o in self.gateway_allowed_origins.split(",") if o.strip()}
        return None if "*" in items else frozenset(items)
