"""Where the local stack listens and keeps its data; every value overridable by INPLAY_* vars."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

Port = int


class StackSettings(BaseSettings):
    """Addresses, ports and folders of the local stack (none of the standard ports)."""

    model_config = SettingsConfigDict(env_prefix="INPLAY_")

    host: str = "127.0.0.1"
    pg_port: Port = Field(15432, ge=1, le=65535)
    redis_port: Port = Field(16379, ge=1, le=65535)
    kafka_port: Port = Field(19092, ge=1, le=65534)  # and the next one (controller)
    api_port: Port = Field(18000, ge=1, le=65535)
    ws_port: Port = Field(18765, ge=1, le=65535)
    partitions: int = Field(4, ge=1, le=64)
    data_dir: Path = ROOT / ".local"
    # Unprivileged account that runs PostgreSQL when the stack is started as root.
    pg_user: str = "postgres"
    database: str = "inplay"

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap address of the Kafka broker."""
        return f"{self.host}:{self.kafka_port}"

    @property
    def kafka_controller_port(self) -> Port:
        """The KRaft controller's listener: the port after the broker's."""
        return self.kafka_port + 1

    @property
    def redis_url(self) -> str:
        """URL of the stack's Redis."""
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def pg_dsn(self) -> str:
        """libpq URL of the stack's database."""
        return f"postgresql://postgres@{self.host}:{self.pg_port}/{self.database}"

    @property
    def run_dir(self) -> Path:
        """Pid files of the processes the stack started."""
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        """One log file per process."""
        return self.data_dir / "logs"

    @property
    def pg_data_dir(self) -> Path:
        """PostgreSQL's data folder.

        PostgreSQL refuses to run as root, and the account it runs as must reach its data
        through every parent folder, which a checkout under /root or a mode-700 temp folder
        does not allow; so as root the data lives under /var/tmp, keyed by this data folder.
        """
        if os.geteuid() != 0:
            return self.data_dir / "pg"
        key = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"inplay-{key}" / "pg"

    def service_env(self) -> dict[str, str]:
        """Variables every platform service reads to find the stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.pg_dsn,
        }
