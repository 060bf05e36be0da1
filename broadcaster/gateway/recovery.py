"""Snapshot-then-deltas and stream recovery as decisions on plain values (no I/O).

Two small state machines, driven by the hub with what Redis answered:

- ``Sync``: one subscription. It starts ``READING`` (its snapshot or replay is being read;
  publications are buffered), is ``CATCHING_UP`` once the read answered (publications up to
  the read's seq are dropped, newer ones sent), and goes ``LIVE`` (or ``CONFLATING``) once
  exactly at the channel's position, after which the channel's fan-out feeds it unchecked.
- ``Stream``: one channel's position in this process. A publication is the next one, an
  old one, or out of sequence (a gap, a new epoch); then the channel holds what comes
  until a recovery has read back what was missed, and what was held is offered again.

::

    subscribe ──► READING ──read answers──► CATCHING_UP ──at the channel's seq──► LIVE
                   │  ▲ ▲                      │                   (conflate_ms: CONFLATING)
                   └──┘ └──────────────────────┘
           stale read: read again    another epoch, or pub/sub back: read anew

    any state ──unsubscribe, disconnect──► ENDED

Live subscriptions stay live through a channel's recovery: they get its read-back or its
fresh snapshot, like everyone caught up.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

from broadcaster.protocol import Position

T = TypeVar("T")


class State(enum.Enum):
    """Where a subscription is between its first read and the channel's fan-out."""

    READING = "reading"  # its snapshot or replay is being read; publications are buffered
    CATCHING_UP = "catching_up"  # read and sent; publications it already has are dropped
    LIVE = "live"  # gets every publication of the channel as is
    CONFLATING = "conflating"  # live, through its conflate_ms conflater
    ENDED = "ended"  # unsubscribed or disconnected: nothing more


class Step(enum.Enum):
    """What to do with one publication for a subscription that is not live."""

    BUFFER = "buffer"  # kept until the read answers
    SKIP = "skip"  # the client has it already
    SEND = "send"  # the next one the client needs
    READ_AGAIN = "read_again"  # another epoch: the subscription starts over with a new read


class Verdict(enum.Enum):
    """What a channel's stream makes of a publication."""

    NEXT = "next"  # in sequence: deliver it
    OLD = "old"  # delivered already (read back from history)
    HELD = "held"  # a recovery is under way: kept for after it
    RECOVER = "recover"  # out of sequence: now held; read back what was missed


class Recovery(enum.Enum):
    """How a channel makes up for a pub/sub outage."""

    READ_BACK = "read_back"  # read the history after its position (or a snapshot)
    RESYNC = "resync"  # no position yet: each subscription reads anew once resubscribed


class Sync(Generic[T]):
    """One subscription's way from its first read to the live fan-out."""

    __slots__ = ("_buffer", "_stale", "conflate", "epoch", "state", "through")

    def __init__(self, conflate: bool = False) -> None:
        self.state = State.READING
        self.conflate = conflate
        self.epoch = ""
        self.through = 0  # the last seq the client has (from the read, then deliveries)
        self._buffer: list[tuple[str, int, T]] = []
        # The read in flight may have missed publications (pub/sub was lost meanwhile).
        self._stale = False

    def offer(self, epoch: str, seq: int, item: T) -> Step:
        """A publication of the channel, while this subscription is not live."""
        state = self.state
        if state is State.READING:
            self._buffer.append((epoch, seq, item))
            return Step.BUFFER
        if state is not State.CATCHING_UP:
            return Step.SKIP  # live ones are fed by the channel; ended ones get nothing
        if epoch != self.epoch:
            self._restart()
            return Step.READ_AGAIN
        if seq <= self.through:
            return Step.SKIP
        self.through = seq
        return Step.SEND

    def synced(self, epoch: str, seq: int) -> list[T] | None:
        """The read answered at ``(epoch, seq)``: what was buffered to send after its messages.

        None if the read is stale: send nothing and read again. If the buffer holds another
        epoch, the state is back to ``READING`` after the returned items (read again).
        """
        if self.state is not State.READING:
            raise RuntimeError(f"a read answered for a subscription that is {self.state.value}")
        if self._stale:
            # Everything buffered so far is older than the read that replaces this one.
            self._stale = False
            self._buffer = []
            return None
        self.state = State.CATCHING_UP
        self.epoch, self.through = epoch, seq
        buffered, self._buffer = self._buffer, []
        out: list[T] = []
        for e, s, item in buffered:
            step = self.offer(e, s, item)
            if step is Step.SEND:
                out.append(item)
            elif step is Step.READ_AGAIN:
                break  # the new read covers the rest
        return out

    def caught_up(self, stream: Stream[Any]) -> bool:
        """Go live if exactly at the channel's position and the channel holds nothing."""
        if (
            self.state is State.CATCHING_UP
            and not stream.holding
            and stream.epoch == self.epoch
            and stream.seq == self.through
        ):
            self.state = State.CONFLATING if self.conflate else State.LIVE
            return True
        return False

    def read_again(self) -> bool:
        """What it has (or is reading) may miss publications; True if a read must start now.

        A subscription still reading redoes its read when it answers (False); a live one
        follows the channel's own recovery instead.
        """
        if self.state is State.READING:
            self._stale = True
            return False
        if self.state is State.CATCHING_UP:
            self._restart()
            return True
        return False

    def resnapshot(self, epoch: str, seq: int) -> bool:
        """The channel's recovery fell back to a snapshot at ``(epoch, seq)``: send it here?

        Not to one still reading: its read may predate what was lost, so it is redone.
        """
        if self.state is State.READING:
            self._stale = True
            return False
        if self.state is State.ENDED:
            return False
        self.epoch, self.through = epoch, seq
        return True

    def end(self) -> None:
        """Unsubscribed or disconnected."""
        self.state = State.ENDED
        self._buffer = []

    def _restart(self) -> None:
        self.state = State.READING
        self._buffer = []
        self._stale = False


class Stream(Generic[T]):
    """A channel's position in this process, and what it holds while recovering."""

    __slots__ = ("_held", "epoch", "seq")

    def __init__(self) -> None:
        self.epoch: str | None = None  # None until a publication reached the channel
        self.seq = 0
        self._held: list[T] | None = None

    @property
    def holding(self) -> bool:
        """A recovery is under way: publications are held, not delivered."""
        return self._held is not None

    def offer(self, epoch: str, seq: int, item: T) -> Verdict:
        """A publication from pub/sub (or one held before, offered again)."""
        held = self._held
        if held is not None:
            held.append(item)
            return Verdict.HELD
        if self.epoch is not None:
            if epoch != self.epoch or seq > self.seq + 1:
                self._held = [item]
                return Verdict.RECOVER
            if seq <= self.seq:
                return Verdict.OLD
        # The first publication is taken as it comes: subscriptions check their own reads.
        self.epoch, self.seq = epoch, seq
        return Verdict.NEXT

    def reconnected(self, pending: bool) -> Recovery | None:
        """Pub/sub was lost and is back: how to make up for it (and hold meanwhile).

        A channel without a position has only subscriptions not live yet (``pending``);
        their reads may predate the outage, and the next publication would reach them
        after a gap, so they read anew once the subscription is confirmed again.
        """
        if self._held is not None:
            return None  # already recovering; its read comes after the reconnect
        if self.epoch is not None:
            self._held = []
            return Recovery.READ_BACK
        if pending:
            self._held = []
            return Recovery.RESYNC
        return None

    def position(self) -> Position | None:
        """Where a read back starts."""
        return Position(self.epoch, self.seq) if self.epoch is not None else None

    def move(self, epoch: str, seq: int) -> None:
        """The recovery read the channel up to ``(epoch, seq)``."""
        self.epoch, self.seq = epoch, seq

    def release(self) -> list[T]:
        """End the hold: what was held, to offer again in order (it may hold anew)."""
        held, self._held = self._held or [], None
        return held
