"""Which connections are in which channel, and snapshot-then-deltas without gap or duplicate.

A client subscription starts *pending*: publications that arrive while its sync read is in
flight are buffered; the read (after the process's Redis subscription is confirmed) gives
the seq S the snapshot or replay reflects; buffered and later publications with seq <= S
are dropped, the rest delivered in order; once the client has caught up with the channel
it becomes *live*, and live writers get each publication with no per-client checks.

The hub also checks each channel's stream itself: a seq gap (pub/sub lost messages) or a
new epoch (Redis lost the channel) makes it read back the history, or send every live
client a fresh snapshot (``recovered: false``) when history cannot cover it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from broadcaster import protocol, publication, state
from broadcaster.channels import Kind
from broadcaster.errors import Unavailable
from broadcaster.gateway.broker import Broker, SyncResult
from broadcaster.gateway.channel import REREAD, Channel, PendingSub
from broadcaster.gateway.conflater import Conflater
from broadcaster.gateway.writer import Message, Writer
from broadcaster.protocol import Position

# A channel nobody wants keeps its Redis subscription this long (reconnect storms).
LINGER_S = 5.0


class Hub:
    """The channels of one gateway process."""

    def __init__(self, log: logging.Logger) -> None:
        self.channels: dict[str, Channel] = {}
        self.broker: Broker | None = None
        self.log = log
        self.recoveries = 0
        self.publications = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # --- client side ---------------------------------------------------------------------

    async def subscribe(
        self, writer: Writer, name: str, resume: Position | None, conflate_ms: int = 0
    ) -> None:
        """Send ``subscribed`` plus snapshot or replay, then deltas; raise Unavailable."""
        assert self.broker is not None
        ch = self.channels.get(name)
        if ch is None:
            ch = self.channels[name] = Channel(name)
        ch.empty_since = None
        sub = PendingSub(writer, conflate_ms)
        ch.pending[writer] = sub
        try:
            await self.broker.subscribe(name)
            if resume is None:
                result = await self._shared_snapshot(ch)
            else:
                result = await self.broker.sync(name, ch.kind is Kind.USER, resume)
        except BaseException:
            if ch.pending.get(writer) is sub:
                del ch.pending[writer]
                self._maybe_empty(ch)
            raise
        if ch.pending.get(writer) is not sub:
            return  # unsubscribed or disconnected meanwhile
        self._complete(ch, sub, result, resume)

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
        assert self.broker is not None
        try:
            while ch.snapshot_waiters:
                waiters, ch.snapshot_waiters = ch.snapshot_waiters, []
                try:
                    result = await self.broker.sync(ch.name, ch.kind is Kind.USER, None)
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

    def unsubscribe(self, writer: Writer, name: str) -> None:
        """Stop delivering ``name`` to ``writer`` (no-op if it was not subscribed)."""
        ch = self.channels.get(name)
        if ch is None:
            return
        ch.live.pop(writer, None)
        ch.pending.pop(writer, None)
        conflater = ch.conflating.pop(writer, None)
        if conflater is not None:
            conflater.stop()
        self._maybe_empty(ch)

    def position(self, writer: Writer, name: str) -> int | None:
        """The seq of the newest message of ``name`` queued for ``writer``."""
        ch = self.channels.get(name)
        if ch is None:
            return None
        if writer in ch.live:
            return ch.last_seq
        conflater = ch.conflating.get(writer)
        if conflater is not None:
            return conflater.flushed
        sub = ch.pending.get(writer)
        return sub.through if sub is not None and sub.synced else None

    def _maybe_empty(self, ch: Channel) -> None:
        if ch.empty() and ch.empty_since is None:
            ch.empty_since = asyncio.get_running_loop().time()

    def _complete(
        self, ch: Channel, sub: PendingSub, result: SyncResult, resume: Position | None
    ) -> None:
        w = sub.writer
        name = ch.name
        if result.recovered:
            assert resume is not None
            w.push_bytes(protocol.subscribed(name, result.epoch, resume.seq, True))
            for payload in result.items:
                _, seq, _, ckey, _, msg = publication.split(payload)
                w.push(Message(msg, name, seq, 0, ckey))
        else:
            if result.built is None:
                data = state.from_redis(ch.kind, result.items)
                result.built = (
                    Message(protocol.subscribed(name, result.epoch, result.seq, False)),
                    Message(protocol.snapshot(name, result.epoch, result.seq, data)),
                )
            for m in result.built:
                w.push(m)
        sub.epoch = result.epoch
        sub.through = result.seq
        sub.synced = True
        buffered, sub.buffer = sub.buffer, []
        for epoch, m in buffered:
            if not self._offer(ch, sub, epoch, m):
                return
        # Live only once exactly caught up: publications still in flight from before the
        # read (seq <= through) must keep being filtered.
        if ch.epoch == sub.epoch and ch.last_seq == sub.through and ch.recovering is None:
            del ch.pending[w]
            self._go_live(ch, sub)

    def _go_live(self, ch: Channel, sub: PendingSub) -> None:
        if sub.conflate_ms:
            ch.conflating[sub.writer] = Conflater(sub.writer, ch.name, sub.conflate_ms, sub.through)
        else:
            ch.live[sub.writer] = None

    def _offer(self, ch: Channel, sub: PendingSub, epoch: str, m: Message) -> bool:
        """Deliver ``m`` to a synced pending subscription if it is new to it; False if the
        subscription had to start over (new epoch)."""
        if epoch != sub.epoch:
            self._resync_pending(ch, sub)
            return False
        if m.seq <= sub.through:
            return True
        sub.writer.push(m)
        sub.through = m.seq
        return True

    def _resync_pending(self, ch: Channel, sub: PendingSub) -> None:
        """The epoch changed under a pending subscription: read a fresh snapshot for it."""
        sub.synced = False
        sub.buffer = []

        async def again() -> None:
            assert self.broker is not None
            try:
                result = await self.broker.sync(ch.name, ch.kind is Kind.USER, None)
            except Unavailable:
                if ch.pending.get(sub.writer) is sub:
                    self._resync_pending(ch, sub)
                return
            if ch.pending.get(sub.writer) is sub:
                self._complete(ch, sub, result, None)

        self._spawn(again())

    # --- Redis side ----------------------------------------------------------------------

    def on_publication(self, name: str, payload: bytes) -> None:
        """A publication from Redis pub/sub."""
        ch = self.channels.get(name)
        if ch is None:
            return
        self.publications += 1
        pub = publication.split(payload)
        if ch.recovering is not None:
            ch.recovering.append(pub)
            return
        self._dispatch(ch, *pub)

    def _dispatch(
        self,
        ch: Channel,
        epoch: str,
        seq: int,
        ts: int,
        ckey: str | None,
        published: int,
        msg: bytes,
    ) -> None:
        if ch.epoch is not None:
            if epoch == ch.epoch:
                if seq <= ch.last_seq:
                    return  # already delivered (read back from history)
                if seq != ch.last_seq + 1:
                    self._recover(ch, (epoch, seq, ts, ckey, published, msg))
                    return
            else:
                self._recover(ch, (epoch, seq, ts, ckey, published, msg))
                return
        ch.epoch = epoch
        ch.last_seq = seq
        m = Message(msg, ch.name, seq, ts, ckey, False, published)
        # The hot path: every live writer gets the same Message (and so the same frame).
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
            self._offer_pending(ch, epoch, m)

    def _offer_pending(self, ch: Channel, epoch: str, m: Message) -> None:
        caught_up = []
        for w, sub in list(ch.pending.items()):
            if not sub.synced:
                sub.buffer.append((epoch, m))
            elif self._offer(ch, sub, epoch, m) and sub.through == ch.last_seq:
                caught_up.append(w)
        for w in caught_up:
            sub = ch.pending.pop(w, None)
            if sub is not None:
                self._go_live(ch, sub)

    def _recover(self, ch: Channel, first: tuple[str, int, int, str | None, int, bytes]) -> None:
        """Hold the channel, read back what was missed, then go on with what was held."""
        self.recoveries += 1
        ch.recovering = [first]
        self.log.warning(
            "channel out of sequence, recovering",
            extra={"channel": ch.name, "epoch": ch.epoch, "last_seq": ch.last_seq},
        )
        self._spawn(self._recover_task(ch))

    def recover_all(self) -> None:
        """After a pub/sub reconnect: every channel reads back what it may have missed.

        A channel no publication has reached yet (``epoch is None``) has only pending
        subscribers, and no position of its own to read back from. Theirs are not enough:
        a snapshot or replay read before or during the outage misses what was published
        while pub/sub was down, and since a channel's first publication is taken as it
        comes, the next one would reach them after a gap. So the channel is held while its
        subscription is confirmed anew; then each pending subscriber reads again (one
        whose read is still in flight does so when it completes), and what was held goes
        on in order. Clients get a second ``subscribed`` and snapshot: exact, like any
        ``recovered: false``.
        """

        async def resync_pending(ch: Channel) -> None:
            assert self.broker is not None
            while self.channels.get(ch.name) is ch:
                try:
                    await self.broker.subscribe(ch.name)
                    break
                except Unavailable:
                    await asyncio.sleep(0.5)
            # Confirmed: a read issued from now on misses no publication.
            for sub in list(ch.pending.values()):
                if sub.synced:
                    self._resync_pending(ch, sub)
                else:
                    sub.buffer.append(REREAD)
            held, ch.recovering = ch.recovering or [], None
            for i, pub in enumerate(held):
                self._dispatch(ch, *pub)
                if ch.recovering is not None:  # out of sequence: recovering as usual
                    ch.recovering.extend(held[i + 1 :])
                    return

        for ch in list(self.channels.values()):
            if ch.recovering is not None:
                continue
            if ch.epoch is not None:
                self.recoveries += 1
                ch.recovering = []
                self._spawn(self._recover_task(ch))
            elif ch.pending:
                self.recoveries += 1
                ch.recovering = []
                self._spawn(resync_pending(ch))

    async def _recover_task(self, ch: Channel) -> None:
        assert self.broker is not None
        while True:
            try:
                await self.broker.subscribe(ch.name)
                resume = Position(ch.epoch, ch.last_seq) if ch.epoch else None
                result = await self.broker.sync(ch.name, ch.kind is Kind.USER, resume)
                break
            except Unavailable:
                if self.channels.get(ch.name) is not ch:
                    return
                await asyncio.sleep(0.5)
        if result.recovered:
            for payload in result.items:
                epoch, seq, _, ckey, _, msg = publication.split(payload)
                ch.epoch, ch.last_seq = epoch, seq
                m = Message(msg, ch.name, seq, 0, ckey)
                for w in ch.live:
                    w.push(m)
                for c in ch.conflating.values():
                    c.push(m)
                if ch.pending:
                    self._offer_pending(ch, epoch, m)
        else:
            data = state.from_redis(ch.kind, result.items)
            sub_msg = Message(protocol.subscribed(ch.name, result.epoch, result.seq, False))
            snap_msg = Message(protocol.snapshot(ch.name, result.epoch, result.seq, data))
            for w in [*ch.live, *ch.conflating]:
                w.push(sub_msg)
                w.push(snap_msg)
            for c in ch.conflating.values():
                c.reset(result.seq)
            # Pending subscribers missed the same publications: a synced one gets this
            # snapshot too (its next delta follows it), one still reading reads again.
            for sub in ch.pending.values():
                if sub.synced:
                    sub.writer.push(sub_msg)
                    sub.writer.push(snap_msg)
                    sub.epoch, sub.through = result.epoch, result.seq
                else:
                    sub.buffer.append(REREAD)
        ch.epoch, ch.last_seq = result.epoch, result.seq
        held, ch.recovering = ch.recovering or [], None
        for i, pub in enumerate(held):
            self._dispatch(ch, *pub)
            if ch.recovering is not None:  # out of sequence again: keep the rest for later
                ch.recovering.extend(held[i + 1 :])
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- housekeeping --------------------------------------------------------------------

    async def sweep(self, now: float) -> None:
        """Drop Redis subscriptions of channels nobody wanted for a while."""
        assert self.broker is not None
        for name, ch in list(self.channels.items()):
            if ch.empty() and ch.empty_since is not None and now - ch.empty_since > LINGER_S:
                del self.channels[name]
                await self.broker.unsubscribe(name)
