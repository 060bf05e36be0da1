"""``python -m stack up|down|reset``: run the whole platform locally, stop one left behind,
or wipe its data for a fresh start."""

from __future__ import annotations

import argparse
import sys

from inplay_events.runtime import load_settings
from stack.errors import StackError
from stack.reset import reset
from stack.settings import StackSettings
from stack.up import down, main_up


def main() -> int:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything; Ctrl-C stops it all")
    sub.add_parser("down", help="stop a stack left running")
    sub.add_parser("reset", help="delete the stack's data: Kafka, Redis, PostgreSQL, logs")
    args = parser.parse_args()
    settings = load_settings(StackSettings)
    if args.command == "up":
        return main_up(settings)
    if args.command == "reset":
        try:
            removed = reset(settings)
        except StackError as exc:
            print(f"make reset: {exc}", file=sys.stderr)
            return 1
        print("removed: " + ", ".join(map(str, removed)) if removed else "no data to remove")
        return 0
    stopped = down(settings)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
