"""``python -m storage migrate|sink``: the migrations, and the sink."""

from __future__ import annotations

import argparse

import psycopg

from inplay_events.runtime import configure_logging, load_settings, log_settings
from storage.migrate import migrate
from storage.settings import SinkSettings, StorageSettings


def main() -> None:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending SQL migrations (a no-op when none are pending)")
    sub.add_parser(
        "sink", help="consume games/odds/bets into TimescaleDB, exactly once (runs until stopped)"
    )
    args = parser.parse_args()
    if args.command == "sink":
        raise SystemExit(_sink())
    settings = load_settings(StorageSettings)
    log = configure_logging("storage", settings.log_level)
    log_settings(log, settings)
    try:
        migrate(settings.database_url.get_secret_value(), log=log)
    except psycopg.OperationalError as exc:
        log.error("database unreachable", extra={"error": str(exc).strip()})
        raise SystemExit(1) from None


def _sink() -> int:
    # Imported here: `migrate` should not pay for aiokafka.
    import uvloop

    from storage.sink.app import run

    settings = load_settings(SinkSettings)
    log = configure_logging("storage.sink", settings.log_level)
    log_settings(log, settings)
    return uvloop.run(run(settings, log))


if __name__ == "__main__":
    main()
