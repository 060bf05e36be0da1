"""Client-chosen conflation (``conflate_ms``): at most one update per market per interval.

Per subscription, what arrives within an interval is held: odds keep the newest state per
market, game events merge their fields per game, anything else (bets) is kept as is. At the
end of the interval everything held goes out at once, in seq order, each message carrying
the seq of the newest event it covers and ``conflated: true`` when it stands for several.
Because all of it is flushed together, a client that applied a flush holds exactly the
state at its last seq, so resuming from that seq is exact.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from broadcaster.gateway.writer import Message, Writer
from broadcaster.protocol import mark_conflated


class _Held:
    """What an interval holds for one market, game or pass-through event."""

    __slots__ = ("count", "data", "last")

    def __init__(self, last: Message) -> None:
        self.last = last
        self.count = 1
        self.data: dict[str, Any] | None = None  # merged game event, once two were held


class Conflater:
    """The conflating side of one live subscription."""

    __slots__ = ("_held", "_last_flush", "_timer", "channel", "flushed", "interval_s", "writer")

    def __init__(self, writer: Writer, channel: str, interval_ms: int, through: int) -> None:
        self.writer = writer
        self.channel = channel
        self.interval_s = interval_ms / 1000.0
        self.flushed = through  # the seq the client's state reflects after the last flush
        self._held: dict[tuple[str, Any], _Held] = {}
        self._timer: asyncio.TimerHandle | None = None
        # Going live counts as a flush: what reached the client while its subscription was
        # being set up was sent unconflated, so the first interval starts now.
        self._last_flush = asyncio.get_running_loop().time()

    def push(self, m: Message) -> None:
        """Hold a publication until the interval ends."""
        if m.ckey is not None:
            key: tuple[str, Any] = ("m", m.ckey)
        else:
            data = orjson.loads(m.msg)["data"]
            key = ("g", data["game_id"]) if data.get("type") == "game" else ("x", m.seq)
        held = self._held.get(key)
        if held is None:
            self._held[key] = _Held(m)
        else:
            if key[0] == "g":
                if held.data is None:
                    held.data = orjson.loads(held.last.msg)["data"]
                held.data = {**held.data, **orjson.loads(m.msg)["data"]}
            held.last = m
            held.count += 1
        if self._timer is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last_flush + self.interval_s - loop.time())
            self._timer = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Send everything held, oldest seq first."""
        self._timer = None
        self._last_flush = asyncio.get_running_loop().time()
        held = sorted(self._held.values(), key=lambda h: h.last.seq)
        self._held.clear()
        for h in held:
            m = h.last
            if h.count > 1:
                if h.data is not None:
                    msg = orjson.dumps(
                        {
                            "type": "event",
                            "channel": self.channel,
                            "seq": m.seq,
                            "data": h.data,
                            "conflated": True,
                        }
                    )
                else:
                    msg = mark_conflated(m.msg)
                m = Message(msg, m.channel, m.seq, m.ts, m.ckey, True, m.published)
            self.writer.push(m)
            self.flushed = m.seq

    def reset(self, through: int) -> None:
        """Drop what is held (a snapshot supersedes it)."""
        self._held.clear()
        self.flushed = through

    def stop(self) -> None:
        """The subscription ended."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held.clear()
