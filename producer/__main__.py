"""``python -m producer``: settings from env and flags, then run until done or signalled."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence

import uvloop

from inplay_events.runtime import configure_logging, load_settings, log_settings
from producer.app import run
from producer.cli import parse_overrides
from producer.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    settings = load_settings(Settings, **parse_overrides(argv))
    log = configure_logging("producer", settings.log_level)
    resolved: dict[str, int] = {}
    if settings.sim_seed is None:
        resolved["sim_seed"] = secrets.randbelow(2**31)
        log.info(
            "no seed given, picked one; set SIM_SEED to repeat this run",
            extra={"seed": resolved["sim_seed"]},
        )
    settings = settings.model_copy(update=resolved)
    log_settings(log, settings)
    return uvloop.run(run(settings, log))


if __name__ == "__main__":
    sys.exit(main())
