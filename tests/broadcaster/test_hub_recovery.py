"""Hub.recover_all across a real pub/sub outage: pending subscribers miss nothing.

The hub runs in the test process on the real ``Broker`` and the harness's Redis. The test
writes the channel as ingest does (numbering, state, history and ``PUBLISH`` in one
transaction); a publication written without its ``PUBLISH`` is one pub/sub lost. The outage
is real: the broker's pub/sub connection is killed, and the broker reconnects and calls
``recover_all`` itself. A gate in front of the broker holds a read's reply (the read itself
has run in Redis) to stage a read that spans the outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest_asyncio
import redis.asyncio as aioredis

from broadcaster import keys, publication, state
from broadcaster.gateway.broker import Broker, SyncResult
from broadcaster.gateway.hub import Hub
from broadcaster.gateway.recovery import State
from broadcaster.gateway.writer import Writer
from broadcaster.protocol import Position

EPOCH = "18c0ffee00aa"
LOG = logging.getLogger("test_hub_recovery")


class Feed:
    """One game channel, written as ingest writes it."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.seq = 0

    async def publish(self, delivered: bool = True) -> None:
        """The channel's next publication; ``delivered=False``: lost on pub/sub."""
        self.seq = seq = self.seq + 1
        ch = self.channel
        game = {"game_id": ch[5:], "status": "live", "clock": seq}
        msg = publication.event_message(ch, seq, {"type": "game", **game})
        payload = orjson.dumps([EPOCH, seq, 1, None, 1]) + b"\n" + msg
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(keys.meta(ch), mapping={"epoch": EPOCH, "seq": seq})
            p.hset(keys.state(ch), "game", orjson.dumps(game))
            p.xadd(keys.history(ch), {"m": payload}, id=f"{seq}-0")
            if delivered:
                p.publish(keys.pubsub(ch), payload)
            await p.execute()

    async def lose_history(self) -> None:
        """History trimmed away: a read back has to fall back to a snapshot."""
        await self.redis.delete(keys.history(self.channel))


class Gate:
    """The broker, with read replies held back while ``hold`` is set."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.hold = False
        self.held: list[asyncio.Future[None]] = []

    async def subscribe(self, channel: str) -> None:
        await self.broker.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.broker.unsubscribe(channel)

    async def sync(self, channel: str, list_state: bool, resume: Position | None) -> SyncResult:
        result = await self.broker.sync(channel, list_state, resume)  # ran in Redis by now
        if self.hold:
            fut = asyncio.get_running_loop().create_future()
            self.held.append(fut)
            await fut
        return result

    def release(self) -> None:
        """Let every held reply through."""
        for fut in self.held:
            fut.set_result(None)
        self.held.clear()


@dataclass
class Setup:
    hub: Hub
    broker: Broker
    gate: Gate
    feed: Feed
    redis: aioredis.Redis
    name: str

    @property
    def ch(self) -> str:
        return self.feed.channel

    async def outage(self) -> None:
        """Kill the broker's pub/sub connection; wait until it is back and recovered."""
        before = self.broker.reconnects
        clients = await self.redis.client_list(_type="pubsub")
        ids = [c["id"] for c in clients if c.get("name") == self.name]
        assert ids, clients
        for cid in ids:
            await self.redis.client_kill_filter(_id=cid)
        await until(lambda: self.broker.reconnects > before)
        await until(lambda: not self.hub.channels[self.ch].holding)


class _Flusher:
    def mark(self, writer: Writer) -> None:
        pass


def _writer() -> Writer:
    return Writer(None, _Flusher(), lambda: None)  # type: ignore[arg-type]


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``pred()`` holds."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _client_view(w: Writer, ch: str) -> tuple[dict[str, Any] | None, int]:
    """What a client builds from the writer's messages; asserts no gap and no duplicate."""
    st: dict[str, Any] | None = None
    seq = -1
    for m in w.queue:
        msg = orjson.loads(m.msg)
        if msg["type"] == "subscribed":
            seq = msg["seq"]
        elif msg["type"] == "snapshot":
            assert msg["seq"] == seq
            st = msg["data"]
        elif msg["type"] == "event":
            assert msg["seq"] == seq + 1, f"gap or duplicate: {seq} -> {msg['seq']}"
            seq = msg["seq"]
            if st is not None:  # None: a resumed client applies them to the state it kept
                st = state.apply(ch, st, msg["data"])
    return st, seq


async def _seq_reaches(w: Writer, ch: str, seq: int) -> tuple[dict[str, Any] | None, int]:
    await until(lambda: _client_view(w, ch)[1] >= seq)
    return _client_view(w, ch)


@pytest_asyncio.fixture
async def setup(stack) -> AsyncIterator[Setup]:
    """A hub on a real broker, and a channel with three publications nobody here received."""
    name = f"hubtest-{uuid.uuid4().hex[:8]}"
    hub: Hub
    broker = Broker(
        f"{stack.redis_url}?client_name={name}",
        lambda channel, payload: hub.on_publication(channel, payload),
        lambda: hub.recover_all(),
        LOG,
    )
    gate = Gate(broker)
    hub = Hub(gate, LOG)
    await broker.start()
    redis = aioredis.from_url(stack.redis_url)
    feed = Feed(redis, f"game:{name}")
    for _ in range(3):
        await feed.publish()  # before the hub subscribed: nobody gets them
    try:
        yield Setup(hub, broker, gate, feed, redis, name)
    finally:
        gate.release()
        await broker.stop()
        await redis.delete(*keys.channel_keys(feed.channel))
        await redis.aclose()


async def test_a_synced_pending_subscriber_misses_nothing_across_a_reconnect(setup):
    """Its snapshot was read, no publication reached the channel yet (no position), then
    two were lost on pub/sub and pub/sub went down."""
    s = setup
    w = _writer()
    await s.hub.subscribe(w, s.ch, None)
    ch = s.hub.channels[s.ch]
    assert ch.epoch is None and ch.subs[w].state is State.CATCHING_UP
    await s.feed.publish(delivered=False)
    await s.feed.publish(delivered=False)
    await s.outage()
    await s.feed.publish()
    st, seq = await _seq_reaches(w, s.ch, 6)
    assert seq == 6 and st is not None and st["game"]["clock"] == 6
    assert ch.subs[w].state is State.LIVE


async def test_a_subscriber_whose_read_spans_the_outage_misses_nothing(setup):
    """Its snapshot read ran before the outage but answered after the reconnect."""
    s = setup
    w = _writer()
    s.gate.hold = True
    subscribing = asyncio.create_task(s.hub.subscribe(w, s.ch, None))
    await until(lambda: bool(s.gate.held))  # the read ran at seq 3; its reply is on its way
    s.gate.hold = False
    await s.feed.publish(delivered=False)
    await s.feed.publish(delivered=False)
    await s.outage()
    await s.feed.publish()
    await until(lambda: s.hub.channels[s.ch].seq == 6)
    s.gate.release()
    await subscribing
    st, seq = await _seq_reaches(w, s.ch, 6)
    assert seq == 6 and st is not None and st["game"]["clock"] == 6
    await s.feed.publish()
    assert (await _seq_reaches(w, s.ch, 7))[1] == 7


async def test_a_resumed_subscriber_whose_read_spans_the_outage_misses_nothing(setup):
    """Its replay was read up to seq 3 before the outage, answered after it."""
    s = setup
    w = _writer()
    s.gate.hold = True
    subscribing = asyncio.create_task(s.hub.subscribe(w, s.ch, Position(EPOCH, 1)))
    await until(lambda: bool(s.gate.held))
    s.gate.hold = False
    await s.feed.publish(delivered=False)
    await s.outage()
    s.gate.release()
    await subscribing
    await s.feed.publish()
    _, seq = await _seq_reaches(w, s.ch, 5)
    first = orjson.loads(w.queue[0].msg)
    assert first["type"] == "subscribed" and first["recovered"] is True
    assert seq == 5


async def test_a_pending_subscriber_gets_the_snapshot_a_recovery_falls_back_to(setup):
    """The channel has a position; a subscriber's read saw a publication still in flight
    (so it waits, catching up); then pub/sub went down and history could not cover the gap."""
    s = setup
    a, b = _writer(), _writer()
    await s.hub.subscribe(a, s.ch, None)
    await s.feed.publish()  # 4: the channel has a position now
    await until(lambda: s.hub.channels[s.ch].seq == 4)
    ch = s.hub.channels[s.ch]
    assert ch.subs[a].state is State.LIVE
    await s.feed.publish(delivered=False)  # 5: in flight, and then lost
    await s.hub.subscribe(b, s.ch, None)  # its snapshot is at 5: catching up until 5 arrives
    assert ch.subs[b].state is State.CATCHING_UP
    await s.feed.publish(delivered=False)  # 6, 7: lost with 5 while pub/sub is down
    await s.feed.publish(delivered=False)
    await s.feed.lose_history()
    await s.outage()
    await s.feed.publish()  # 8
    for w in (a, b):
        st, seq = await _seq_reaches(w, s.ch, 8)
        assert seq == 8 and st is not None and st["game"]["clock"] == 8
    assert ch.subs[b].state is State.LIVE
    assert s.hub.recoveries == 1
