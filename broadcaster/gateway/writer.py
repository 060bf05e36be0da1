"""A connection's outbound queue: coalescing into frames, conflation, slow-client close.

Hot path: a publication's message bytes come from Redis already encoded, its frame is built
once and written to every subscriber whose queue holds just that message; several queued
messages go out as one frame holding a JSON array. Nothing here awaits: writes go straight
to the transport, and a connection whose transport backlog passes the soft mark is held
back (and its odds conflated) instead of slowing anyone else.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from broadcaster.protocol import mark_conflated


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame (servers never mask)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Message:
    """One queued message: a channel publication or a control message (subscribed, pong...)."""

    __slots__ = ("channel", "ckey", "conflated", "frame", "msg", "published", "sent", "seq", "ts")

    def __init__(
        self,
        msg: bytes,
        channel: str | None = None,
        seq: int = 0,
        ts: int = 0,
        ckey: str | None = None,
        conflated: bool = False,
        published: int = 0,
    ) -> None:
        self.msg = msg
        self.published = published
        self.channel = channel
        self.seq = seq
        self.ts = ts
        self.ckey = ckey
        self.conflated = conflated
        self.frame: bytes | None = None
        # Feed-to-send latency is observed once per publication, at its first write.
        self.sent = ts == 0

    def frame_bytes(self) -> bytes:
        """This message alone as a frame, built on first use and shared by every writer."""
        frame = self.frame
        if frame is None:
            frame = self.frame = text_frame(self.msg)
        return frame


def conflate(queue: list[Message]) -> int:
    """Keep only the newest queued odds message per (channel, market); return how many went.

    The newest keeps its place (so seqs stay increasing) and is marked ``conflated: true``
    when it replaced older ones; other messages are untouched.
    """
    last: dict[tuple[str | None, str], int] = {}
    for i, m in enumerate(queue):
        if m.ckey is not None:
            last[(m.channel, m.ckey)] = i
    if len(last) == sum(1 for m in queue if m.ckey is not None):
        return 0
    dropped = 0
    replaced: set[tuple[str | None, str]] = set()
    out: list[Message] = []
    for i, m in enumerate(queue):
        if m.ckey is not None:
            key = (m.channel, m.ckey)
            if last[key] != i:
                dropped += 1
                replaced.add(key)
                continue
            if key in replaced and not m.conflated:
                m = Message(
                    mark_conflated(m.msg), m.channel, m.seq, m.ts, m.ckey, True, m.published
                )
        out.append(m)
    queue[:] = out
    return dropped


@dataclass(slots=True)
class Stats:
    """Process-wide counters, read by /metrics at scrape time (no locks on the hot path)."""

    messages: int = 0
    bytes: int = 0
    frames: int = 0
    conflated: int = 0
    slow_closes: int = 0
    errors: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class Marks:
    """Backlog thresholds of every connection."""

    soft: int
    hard: int
    slow_after_s: float


class Writer:
    """The outbound side of one connection."""

    __slots__ = ("closed", "dirty", "flusher", "on_slow", "queue", "soft_since", "transport")

    def __init__(
        self, transport: asyncio.WriteTransport, flusher: Flusher, on_slow: Callable[[], None]
    ) -> None:
        self.transport = transport
        self.flusher = flusher
        self.on_slow = on_slow
        self.queue: list[Message] = []
        self.dirty = False
        self.closed = False
        self.soft_since: float | None = None

    def push(self, m: Message) -> None:
        """Queue one message for the next flush."""
        if self.closed:
            return
        self.queue.append(m)
        if not self.dirty:
            self.dirty = True
            self.flusher.mark(self)

    def push_bytes(self, msg: bytes) -> None:
        """Queue a control message."""
        self.push(Message(msg))

    def flush(self, now: float, wall_ms: int) -> bool:
        """Write the queue as one frame; True if held back by a backlog (retry next tick)."""
        if self.closed:
            return False
        q = self.queue
        buffered = self.transport.get_write_buffer_size()
        flusher = self.flusher
        marks = flusher.marks
        if buffered > marks.soft:
            if self.soft_since is None:
                self.soft_since = now
            flusher.stats.conflated += conflate(q)
            backlog = buffered + sum(len(m.msg) for m in q)
            if backlog > marks.hard or now - self.soft_since > marks.slow_after_s:
                flusher.stats.slow_closes += 1
                self.closed = True
                q.clear()
                self.on_slow()
                return False
            return True
        self.soft_since = None
        if not q:
            return False
        stats = flusher.stats
        if len(q) == 1:
            m = q[0]
            frame = m.frame_bytes()
            if not m.sent:
                m.sent = True
                flusher.observe(wall_ms, m)
        else:
            for m in q:
                if not m.sent:
                    m.sent = True
                    flusher.observe(wall_ms, m)
            # Subscribers of the same channels queue the same messages in a window: the
            # array frame is built once per distinct queue, not once per connection. The
            # key holds the messages themselves (identity equality), which keeps them alive
            # for the run, so no id can be reused for another message meanwhile.
            key = tuple(q)
            joined = flusher.joined.get(key)
            if joined is None:
                joined = flusher.joined[key] = text_frame(
                    b"[" + b",".join([m.msg for m in q]) + b"]"
                )
            frame = joined
        stats.messages += len(q)
        stats.frames += 1
        stats.bytes += len(frame)
        q.clear()
        self.transport.write(frame)
        return False

    def close(self) -> None:
        """Drop what is queued; nothing more is written."""
        self.closed = True
        self.queue.clear()


class Flusher:
    """Flushes every writer that has something queued, once per coalescing window."""

    def __init__(
        self,
        interval_s: float,
        marks: Marks,
        stats: Stats,
        observe_feed: Callable[[float], None],
        observe_gateway: Callable[[float], None],
    ) -> None:
        self.interval_s = interval_s
        self.marks = marks
        self.stats = stats
        self._observe_feed = observe_feed
        self._observe_gateway = observe_gateway
        self._dirty: list[Writer] = []
        # Array frames built during one run, by the messages they hold.
        self.joined: dict[tuple[Message, ...], bytes] = {}
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def observe(self, wall_ms: int, m: Message) -> None:
        """Record a publication's first write: since its event time, and since ingest sent it."""
        self._observe_feed((wall_ms - m.ts) / 1000.0)
        if m.published:
            self._observe_gateway((wall_ms - m.published) / 1000.0)

    def mark(self, writer: Writer) -> None:
        """A writer has messages: flush it at the end of the current window."""
        self._dirty.append(writer)
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._scheduled = True
        if self.interval_s > 0:
            self._loop.call_later(self.interval_s, self.run)
        else:
            self._loop.call_soon(self.run)

    def run(self) -> None:
        """Flush every dirty writer; held-back ones stay dirty for the next window."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        assert self._loop is not None
        now = self._loop.time()
        wall_ms = int(time.time() * 1000)
        again = self._dirty
        try:
            for w in dirty:
                if w.flush(now, wall_ms):
                    again.append(w)
                else:
                    w.dirty = False
        finally:
            self.joined.clear()
        if again and not self._scheduled:
            self._schedule()
