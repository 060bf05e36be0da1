"""``python -m rest_api``: read settings, log them, serve with uvicorn on uvloop."""

from __future__ import annotations

import sys

import uvicorn

from inplay_events.runtime import configure_logging, load_settings, log_settings
from rest_api.app import create_app
from rest_api.settings import Settings


def main() -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code."""
    settings = load_settings(Settings)
    log = configure_logging("rest_api", settings.log_level)
    log_settings(log, settings)
    app = create_app(settings)
    log.info(
        "serving",
        extra={
            "url": f"http://{settings.api_host}:{settings.api_port}",
            "docs": f"http://{settings.api_host}:{settings.api_port}/docs",
        },
    )
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        # Uvicorn's loggers propagate to the JSON handler configure_logging installed.
        log_config=None,
        access_log=settings.api_access_log,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
