"""``python -m broadcaster ingest|gateway``: settings from the environment, JSON logs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvloop

from inplay_events.runtime import configure_logging, load_settings, log_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m broadcaster",
        description="Real-time fan-out. Settings come from environment variables "
        "(see docs/protocol.md and broadcaster/settings.py).",
    )
    parser.add_argument("command", choices=("ingest", "gateway"))
    args = parser.parse_args(argv)
    if args.command == "ingest":
        from broadcaster.ingest.app import run as run_ingest
        from broadcaster.settings import IngestSettings

        ingest_settings = load_settings(IngestSettings)
        log = configure_logging("broadcaster-ingest", ingest_settings.log_level)
        log_settings(log, ingest_settings)
        return uvloop.run(run_ingest(ingest_settings, log))
    from broadcaster.gateway.app import run as run_gateway
    from broadcaster.settings import GatewaySettings

    gateway_settings = load_settings(GatewaySettings)
    log = configure_logging("broadcaster-gateway", gateway_settings.log_level)
    log_settings(log, gateway_settings)
    return uvloop.run(run_gateway(gateway_settings, log))


if __name__ == "__main__":
    sys.exit(main())
