"""One channel of a gateway process: its live, conflating and pending subscribers, and the
position (epoch, seq) of the last publication the process delivered in it."""

from __future__ import annotations

import asyncio

from broadcaster.channels import kind_of
from broadcaster.gateway.broker import SyncResult
from broadcaster.gateway.conflater import Conflater
from broadcaster.gateway.writer import Message, Writer

Pub = tuple[str, Message]  # (epoch, message)
# Buffered for a subscriber whose read is in flight when that read can no longer be trusted:
# no epoch is ever this (epochs are hex), so _complete takes it for an epoch change and
# reads the channel again for that subscriber.
REREAD: Pub = ("!reread", Message(b""))


class PendingSub:
    """A subscription whose snapshot or replay is being read."""

    __slots__ = ("buffer", "conflate_ms", "epoch", "synced", "through", "writer")

    def __init__(self, writer: Writer, conflate_ms: int = 0) -> None:
        self.writer = writer
        self.conflate_ms = conflate_ms
        self.buffer: list[Pub] = []
        self.synced = False
        self.epoch = ""
        self.through = 0  # the last seq this client has (from the sync read, then deliveries)


class Channel:
    """One channel of this process: its live writers, pending subscriptions and position."""

    __slots__ = (
        "conflating",
        "empty_since",
        "epoch",
        "kind",
        "last_seq",
        "live",
        "name",
        "pending",
        "recovering",
        "snapshot_reading",
        "snapshot_waiters",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = kind_of(name)
        self.live: dict[Writer, None] = {}
        # Live subscriptions that asked for conflate_ms > 0.
        self.conflating: dict[Writer, Conflater] = {}
        self.pending: dict[Writer, PendingSub] = {}
        self.epoch: str | None = None
        self.last_seq = 0
        self.recovering: list[tuple[str, int, int, str | None, int, bytes]] | None = None
        self.empty_since: float | None = None
        # Subscribers waiting for the next shared snapshot read, and whether one runs.
        self.snapshot_waiters: list[asyncio.Future[SyncResult]] = []
        self.snapshot_reading = False

    def empty(self) -> bool:
        """No client wants this channel."""
        return not self.live and not self.pending and not self.conflating
