"""Which connections are in which channel, the fan-out, and the reads behind both.

The decisions (buffer, drop, send, go live; hold a channel, read back, release) are made by
the states of ``recovery.py``; the hub runs the reads they ask for and delivers. Each
subscription reads a snapshot (shared by every subscriber pending when it is issued) or a
replay after its ``resume`` position, once the process's Redis subscription is confirmed,
and goes live when caught up. Each channel checks its own stream: a seq gap (pub/sub lost
messages) or a new epoch (Redis lost the channel) makes it read back the history, or send
every subscriber a fresh snapshot (``recovered: false``) when history cannot cover it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from broadcaster import protocol, publication, state
from broadcaster.channels import Kind
from broadcaster.errors import Unavailable
from broadcaster.gateway.broker import SyncResult
from broadcaster.gateway.channel import Channel, Pub, Subscription
from broadcaster.gateway.recovery import Recovery, State, Step, Verdict
from broadcaster.gateway.writer import Message, Writer
from broadcaster.protocol import Position

# A channel nobody wants keeps its Redis subscription this long (reconnect storms).
LINGER_S = 5.0
# Pause before a background read tries Redis again.
RETRY_S = 0.5


class Source(Protocol):
    """What the hub needs of Redis (``broker.Broker``): pub/sub subscriptions, sync reads."""

    async def subscribe(self, channel: str) -> None:
        """Subscribe the process; returns once publications flow; raises Unavailable."""
        ...

    async def unsubscribe(self, channel: str) -> None:
        """Drop the process's subscription."""
        ...

    async def sync(self, channel: str, list_state: bool, resume: Position | None) -> SyncResult:
        """Epoch, seq and the replay after ``resume`` or the state, read atomically."""
        ...


class Hub:
    """The channels of one gateway process."""

    def __init__(self, source: Source, log: logging.Logger) -> None:
        self.source = source
        self.channels: dict[str, Channel] = {}
        self.log = log
        self.recoveries = 0
        self.publications = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # --- client side ---------------------------------------------------------------------

    async def subscribe(
        self, writer: Writer, name: str, resume: Position | None, conflate_ms: int = 0
    ) -> None:
        """Send ``subscribed`` plus snapshot or replay, then deltas; raise Unavailable."""
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = Channel(name)
        sub = Subscription(writer, conflate_ms)
        ch.add(sub)  # buffering from now on, before the read is issued
        try:
            await self.source.subscribe(name)
            await self._sync(ch, sub, resume)
        except BaseException:
            if ch.subs.get(writer) is sub:
                ch.remove(writer)
                self._maybe_empty(ch)
            raise

    def unsubscribe(self, writer: Writer, name: str) -> None:
        """Stop delivering ``name`` to ``writer`` (no-op if it was not subscribed)."""
        ch = self.channels.get(name)
        if ch is not None and ch.remove(writer) is not None:
            self._maybe_empty(ch)

    def position(self, writer: Writer, name: str) -> int | None:
        """The seq of the newest message of ``name`` queued for ``writer``."""
        ch = self.channels.get(name)
        if ch is None:
            return None
        sub = ch.subs.get(writer)
        return None if sub is None else sub.position(ch.seq)

    def _maybe_empty(self, ch: Channel) -> None:
        if ch.empty() and ch.empty_since is None:
            ch.empty_since = asyncio.get_running_loop().time()

    async def _sync(self, ch: Channel, sub: Subscription, resume: Position | None) -> None:
        """Read for ``sub`` until a read it can trust answers; send it and what followed."""
        while True:
            if resume is None:
                result = await self._shared_snapshot(ch)
            else:
                result = await self.source.sync(ch.name, ch.kind is Kind.USER, resume)
            if sub.state is State.ENDED:
                return  # unsubscribed or disconnected meanwhile
            later = sub.synced(result.epoch, result.seq)
            if later is not None:
                break
        w = sub.writer
        for m in self._read_messages(ch, result, resume):
            w.push(m)
        for m in later:
            w.push(m)
        if sub.state is State.READING:  # the buffer held another epoch: start over
            self._spawn(self._resync(ch, sub))
        else:
            ch.promote(sub)

    def _read_messages(
        self, ch: Channel, result: SyncResult, resume: Position | None
    ) -> tuple[Message, ...]:
        """``subscribed`` and the replay or snapshot of a read."""
        name = ch.name
        if result.recovered:
            assert resume is not None
            out = [Message(protocol.subscribed(name, result.epoch, resume.seq, True))]
            for payload in result.items:
                _, seq, _, ckey, _, msg = publication.split(payload)
                out.append(Message(msg, name, seq, 0, ckey))
            return tuple(out)
        if result.built is None:  # built once for every subscriber the read served
            data = state.from_redis(ch.kind, result.items)
            result.built = (
                Message(protocol.subscribed(name, result.epoch, result.seq, False)),
                Message(protocol.snapshot(name, result.epoch, result.seq, data)),
            )
        built: tuple[Message, ...] = result.built
        return built

    async def _resync(self, ch: Channel, sub: Subscription) -> None:
        """A subscription that started over reads a snapshot anew (retrying while Redis is away)."""
        while sub.state is not State.ENDED:
            try:
                await self._sync(ch, sub, None)
                return
            except Unavailable:
                await asyncio.sleep(RETRY_S)

    async def _shared_snapshot(self, ch: Channel) -> SyncResult:
        """One snapshot read for every subscriber that was pending before it was issued.

        Correct for all of them: each registered as pending (so buffers publications)
        before the read, which is all snapshot-then-deltas needs. A reconnect storm of a
        thousand clients on one channel costs one or two reads, one JSON encode, one frame.
        """
        fut: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        ch.snapshot_waiters.append(fut)
        if not ch.snapshot_reading:
            ch.snapshot_reading = True
            self._spawn(self._snapshot_reads(ch))
        return await fut

    async def _snapshot_reads(self, ch: Channel) -> None:
        try:
            while ch.snapshot_waiters:
                waiters, ch.snapshot_waiters = ch.snapshot_waiters, []
                try:
                    result = await self.source.sync(ch.name, ch.kind is Kind.USER, None)
                except Exception as exc:  # every waiter must hear, whatever went wrong
                    error = exc if isinstance(exc, Unavailable) else Unavailable(repr(exc))
                    for f in waiters:
                        if not f.done():
                            f.set_exception(error)
                    continue
                for f in waiters:
                    if not f.done():
                        f.set_result(result)
        finally:
            ch.snapshot_reading = False

    # --- Redis side ----------------------------------------------------------------------

    def on_publication(self, name: str, payload: bytes) -> None:
        """A publication from Redis pub/sub."""
        ch = self.channels.get(name)
        if ch is None:
            return
        self.publications += 1
        self._dispatch(ch, publication.split(payload))

    def _dispatch(self, ch: Channel, pub: Pub) -> None:
        epoch, seq, ts, ckey, published, msg = pub
        verdict = ch.offer(epoch, seq, pub)
        if verdict is Verdict.NEXT:
            self._deliver(ch, epoch, Message(msg, ch.name, seq, ts, ckey, False, published))
        elif verdict is Verdict.RECOVER:
            self.recoveries += 1
            self.log.warning(
                "channel out of sequence, recovering",
                extra={"channel": ch.name, "epoch": ch.epoch, "last_seq": ch.seq},
            )
            self._spawn(self._read_back(ch))

    def _deliver(self, ch: Channel, epoch: str, m: Message) -> None:
        """``m`` is the channel's next publication: to every subscriber that needs it."""
        # The hot path: every live writer gets the same Message (and so the same frame),
        # Writer.push inlined, no task or await per recipient.
        for w in ch.live:
            if not w.closed:
                w.queue.append(m)
                if not w.dirty:
                    w.dirty = True
                    w.flusher.mark(w)
        if ch.conflating:
            for c in ch.conflating.values():
                c.push(m)
        if ch.pending:
            for sub in list(ch.pending.values()):
                step = sub.offer(epoch, m.seq, m)
                if step is Step.READ_AGAIN:
                    self._spawn(self._resync(ch, sub))
                elif step is not Step.BUFFER:
                    if step is Step.SEND:
                        sub.writer.push(m)
                    ch.promote(sub)

    def recover_all(self) -> None:
        """After a pub/sub reconnect: every channel makes up for what it may have missed."""
        for ch in list(self.channels.values()):
            how = ch.reconnected(bool(ch.pending))
            if how is Recovery.READ_BACK:
                self.recoveries += 1
                self._spawn(self._read_back(ch))
            elif how is Recovery.RESYNC:
                self.recoveries += 1
                self._spawn(self._resync_pending(ch))

    async def _read_back(self, ch: Channel) -> None:
        """Read what the held channel missed since its position, deliver it, release it."""
        while True:
            try:
                await self.source.subscribe(ch.name)
                result = await self.source.sync(ch.name, ch.kind is Kind.USER, ch.position())
                break
            except Unavailable:
                if self.channels.get(ch.name) is not ch:
                    return
                await asyncio.sleep(RETRY_S)
        if result.recovered:
            for payload in result.items:
                epoch, seq, _, ckey, _, msg = publication.split(payload)
                ch.move(epoch, seq)
                self._deliver(ch, epoch, Message(msg, ch.name, seq, 0, ckey))
        else:
            data = state.from_redis(ch.kind, result.items)
            sub_msg = Message(protocol.subscribed(ch.name, result.epoch, result.seq, False))
            snap_msg = Message(protocol.snapshot(ch.name, result.epoch, result.seq, data))
            # Live and caught-up subscribers get it (their next delta follows it); one still
            # reading reads again: its read may predate what was lost.
            for sub in ch.subs.values():
                if sub.resnapshot(result.epoch, result.seq):
                    sub.writer.push(sub_msg)
                    sub.writer.push(snap_msg)
                    if sub.conflater is not None:
                        sub.conflater.reset(result.seq)
        ch.move(result.epoch, result.seq)
        self._release(ch)

    async def _resync_pending(self, ch: Channel) -> None:
        """A channel without a position after a reconnect: its subscriptions read anew.

        A snapshot or replay read before or during the outage misses what was published
        while pub/sub was down, and since a channel's first publication is taken as it
        comes, the next one would reach them after a gap. So the channel is held while its
        subscription is confirmed anew; then each subscription reads again, and what was
        held goes on in order. A client that had its snapshot gets a second ``subscribed``
        and snapshot (exact, like any ``recovered: false``); one whose read was in flight
        gets the redone read instead.
        """
        while self.channels.get(ch.name) is ch:
            try:
                await self.source.subscribe(ch.name)
                break
            except Unavailable:
                await asyncio.sleep(RETRY_S)
        # Confirmed: a read issued from now on misses no publication.
        for sub in list(ch.pending.values()):
            if sub.read_again():
                self._spawn(self._resync(ch, sub))
        self._release(ch)

    def _release(self, ch: Channel) -> None:
        """The recovery is done: what was held goes on in order (or is held anew)."""
        for pub in ch.release():
            self._dispatch(ch, pub)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- housekeeping --------------------------------------------------------------------

    async def sweep(self, now: float) -> None:
        """Drop Redis subscriptions of channels nobody wanted for a while."""
        for name, ch in list(self.channels.items()):
            if ch.empty() and ch.empty_since is not None and now - ch.empty_since > LINGER_S:
                del self.channels[name]
                await self.source.unsubscribe(name)
