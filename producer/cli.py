"""Command-line flags: one per setting, documented with its env var and default."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from pydantic_core import PydanticUndefined

from producer.settings import Settings

PROG = "python -m producer"


def flag_for(field: str) -> str:
    """The CLI flag of a settings field: ``sim_games`` -> ``--games``."""
    if field == "kafka_idempotence":
        return "--idempotence"
    return "--" + field.removeprefix("sim_").replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """A parser whose flags override the environment; unset flags leave it alone."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Live feed simulator: produces contract-v1 game, odds and bet events to "
        "Kafka. Every flag can also be set by the environment variable named in its help; "
        "a flag wins over the variable.",
        argument_default=argparse.SUPPRESS,
    )
    for name, info in Settings.model_fields.items():
        if info.default_factory is not None:
            default = "random"
        elif info.default is PydanticUndefined or info.default is None:
            default = "unset"
        else:
            default = str(info.default).lower() if info.annotation is bool else info.default
        help_text = f"{info.description} [env {name.upper()}; default {default}]"
        kwargs: dict[str, Any] = {"dest": name, "help": help_text}
        if info.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = "FILE" if name in ("sim_record", "sim_replay") else "VALUE"
        parser.add_argument(flag_for(name), **kwargs)
    return parser


def parse_overrides(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The settings the command line sets, as field-name keyword arguments."""
    return vars(build_parser().parse_args(argv))
