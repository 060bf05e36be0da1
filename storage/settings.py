"""Settings of the storage processes, read from the environment once."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class StorageSettings(BaseSettings):
    """Where the database is."""

    database_url: str = Field("postgresql://postgres@127.0.0.1:15432/inplay")
    log_level: str = "INFO"
