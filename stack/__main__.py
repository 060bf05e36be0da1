"""``python -m stack up|down``: run the whole platform locally, or stop one left behind."""

from __future__ import annotations

import argparse

from inplay_events.runtime import load_settings
from stack.settings import StackSettings
from stack.up import down, main_up


def main() -> int:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything; Ctrl-C stops it all")
    sub.add_parser("down", help="stop a stack left running")
    args = parser.parse_args()
    settings = load_settings(StackSettings)
    if args.command == "up":
        return main_up(settings)
    stopped = down(settings)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
