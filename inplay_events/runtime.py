"""Conventions every service shares: settings read from the environment once, JSON logs.

Kept beside the event contract because it is the other thing all services agree on:
how an operator configures them and how their output reads.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from pythonjsonlogger.json import JsonFormatter

S = TypeVar("S", bound=BaseSettings)


def configure_logging(service: str, level: str = "INFO") -> logging.Logger:
    """Send JSON log lines to stdout, each tagged with ``service``; return its logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every rebalance step at INFO; keep it to warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return logging.getLogger(service)


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable that sets ``field`` of ``settings_cls``."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    return f"{prefix}{field}".upper()


def load_settings(settings_cls: type[S], **overrides: Any) -> S:
    """Read settings from the environment; exit with a message naming each bad variable."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        lines = [f"invalid configuration for {settings_cls.__name__}:"]
        for err in exc.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            lines.append(f"  {env_name(settings_cls, field)}: {err['msg']} (got {err['input']!r})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def log_settings(log: logging.Logger, settings: BaseSettings) -> None:
    """Log the settings once at start-up; SecretStr fields come out masked."""
    log.info("settings", extra={"settings": settings.model_dump(mode="json")})
