"""The Lua programs run in Redis, one ``.lua`` file each, and the ARGV each one takes.

Every file names its KEYS and ARGV at its top; the NamedTuples here list the same ARGV in
the same order, so a call is built by name (a test holds the two sides together).
``numbering.lua`` (the Lua half of ``broadcaster.keys``'s numbering rule) is loaded in
front of both programs, so Redis's line numbers in an error count from its start.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

NUMBERING = "numbering.lua"


def source(name: str) -> str:
    """The text Redis runs for the program in ``<name>.lua``: numbering.lua, then it."""
    folder = resources.files(__package__)
    parts = (folder.joinpath(file).read_text(encoding="utf-8") for file in (NUMBERING, name))
    return "\n".join(parts)


class ApplyArgs(NamedTuple):
    """The fixed ARGV of ``apply.lua``, in order; ``EventArgs`` of each event follow."""

    candidate_epoch: str
    published_ms: int
    history_maxlen: int
    history_ttl_ms: int
    dedupe_ttl_ms: int
    user_bets: int
    ended_ttl_ms: int
    user_ttl_ms: int
    quiet: str  # "1" | "0"
    quiet_since: int
    marks: bytes  # JSON [[field, at least, up to], ...], offsets as strings
    channels: bytes  # JSON, per channel of the call: [pub/sub channel, name as JSON]
    event_count: int


class EventArgs(NamedTuple):
    """The ARGV of one event in ``apply.lua``."""

    game_seq: int
    header: bytes  # publication.header_middle
    data: bytes  # the event, as clients receive it
    value: bytes  # what it writes into the states (a game, market or bet object)
    ops: bytes  # JSON [[channel number, op, field], ...]


class SyncArgs(NamedTuple):
    """The ARGV of ``sync.lua``; its KEYS are ``keys.channel_keys`` of the channel."""

    state_kind: str  # "list" | "hash"
    candidate_epoch: str
    resume_epoch: str  # "" for no resume position
    resume_seq: int
    max_replay: int
    tentative_ttl_ms: int


APPLY_LUA = source("apply.lua")
SYNC_LUA = source("sync.lua")
