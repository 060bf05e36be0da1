"""One channel of a gateway process and its subscriptions.

A ``Channel`` is a ``recovery.Stream`` (its position, what it holds while recovering) plus
who is in it; a ``Subscription`` is a ``recovery.Sync`` (its named state) plus the writer
and conflater it delivers to. ``subs`` is the registry; ``live``, ``conflating`` and
``pending`` are indexes for the fan-out, derived from each subscription's state and kept
only by ``add``, ``promote`` and ``remove``.
"""

from __future__ import annotations

import asyncio

from broadcaster.channels import kind_of
from broadcaster.gateway.broker import SyncResult
from broadcaster.gateway.conflater import Conflater
from broadcaster.gateway.recovery import State, Stream, Sync
from broadcaster.gateway.writer import Message, Writer

# A publication as pub/sub carries it: (epoch, seq, ts, conflation key, published ms, msg).
Pub = tuple[str, int, int, str | None, int, bytes]


class Subscription(Sync[Message]):
    """One client's subscription to one channel."""

    __slots__ = ("conflate_ms", "conflater", "writer")

    def __init__(self, writer: Writer, conflate_ms: int = 0) -> None:
        super().__init__(conflate=conflate_ms > 0)
        self.writer = writer
        self.conflate_ms = conflate_ms
        self.conflater: Conflater | None = None  # once CONFLATING

    def position(self, channel_seq: int) -> int | None:
        """The seq of the newest message of the channel queued for the client."""
        state = self.state
        if state is State.LIVE:
            return channel_seq
        if state is State.CONFLATING:
            assert self.conflater is not None
            return self.conflater.flushed
        return self.through if state is State.CATCHING_UP else None


class Channel(Stream[Pub]):
    """One channel of this process: its subscriptions and its position."""

    __slots__ = (
        "conflating",
        "empty_since",
        "kind",
        "live",
        "name",
        "pending",
        "snapshot_reading",
        "snapshot_waiters",
        "subs",
    )

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.kind = kind_of(name)
        self.subs: dict[Writer, Subscription] = {}
        # The fan-out's indexes: LIVE writers, CONFLATING ones, and the rest (not live yet).
        self.live: dict[Writer, None] = {}
        self.conflating: dict[Writer, Conflater] = {}
        self.pending: dict[Writer, Subscription] = {}
        self.empty_since: float | None = None
        # Subscribers waiting for the next shared snapshot read, and whether one runs.
        self.snapshot_waiters: list[asyncio.Future[SyncResult]] = []
        self.snapshot_reading = False

    def add(self, sub: Subscription) -> None:
        """A new subscription, ``READING``."""
        self.subs[sub.writer] = sub
        self.pending[sub.writer] = sub
        self.empty_since = None

    def promote(self, sub: Subscription) -> bool:
        """Move ``sub`` into the fan-out if it has caught up with the channel."""
        if not sub.caught_up(self):
            return False
        w = sub.writer
        del self.pending[w]
        if sub.state is State.CONFLATING:
            sub.conflater = Conflater(w, self.name, sub.conflate_ms, sub.through)
            self.conflating[w] = sub.conflater
        else:
            self.live[w] = None
        return True

    def remove(self, writer: Writer) -> Subscription | None:
        """End ``writer``'s subscription (if any); the subscription that ended."""
        sub = self.subs.pop(writer, None)
        if sub is None:
            return None
        sub.end()
        self.live.pop(writer, None)
        self.pending.pop(writer, None)
        self.conflating.pop(writer, None)
        if sub.conflater is not None:
            sub.conflater.stop()
        return sub

    def empty(self) -> bool:
        """No client wants this channel."""
        return not self.subs
