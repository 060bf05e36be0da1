"""Hub.recover_all with an in-memory broker: pending subscribers miss nothing across a
pub/sub reconnect (the outage is staged step by step, which a real Redis cannot do)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from broadcaster import publication, state
from broadcaster.gateway.broker import SyncResult
from broadcaster.gateway.hub import Hub
from broadcaster.gateway.writer import Writer
from broadcaster.protocol import Position

CH = "game:g1"
EPOCH = "18c0ffee00aa"


class FakeBroker:
    """One channel's numbering and history in memory; reads can be held to stage races."""

    def __init__(self) -> None:
        self.seq = 0
        self.history: dict[int, bytes] = {}
        self.hold_reads = False
        self.held: list[asyncio.Future[None]] = []
        self.trimmed = False  # history lost: a resume gets a snapshot

    def publish(self) -> bytes:
        """The next publication of the channel (the caller decides whether it is delivered)."""
        self.seq += 1
        data = {"type": "game", "game_id": "g1", "status": "live", "clock": self.seq}
        msg = publication.event_message(CH, self.seq, data)
        payload = orjson.dumps([EPOCH, self.seq, 1, None, 1]) + b"\n" + msg
        self.history[self.seq] = payload
        return payload

    async def subscribe(self, channel: str) -> None:
        """Confirmed at once."""

    async def unsubscribe(self, channel: str) -> None:
        """Nothing to drop."""

    async def sync(self, channel: str, list_state: bool, resume: Position | None) -> SyncResult:
        # What Redis holds when the read runs, even if its reply is held back.
        seq = self.seq
        if resume is not None and resume.epoch == EPOCH and resume.seq <= seq and not self.trimmed:
            result = SyncResult(True, EPOCH, seq, [self.history[s] for s in
                                                   range(resume.seq + 1, seq + 1)])  # fmt: skip
        else:
            game = {"game_id": "g1", "status": "live", "clock": seq} if seq else None
            items = [b"game", orjson.dumps(game)] if game else []
            result = SyncResult(False, EPOCH, seq, items)
        if self.hold_reads:
            fut = asyncio.get_running_loop().create_future()
            self.held.append(fut)
            await fut
        return result

    def release(self) -> None:
        """Let every held read reply."""
        for fut in self.held:
            fut.set_result(None)
        self.held.clear()


class _Flusher:
    def mark(self, writer: Writer) -> None:
        pass


def _writer() -> Writer:
    return Writer(None, _Flusher(), lambda: None)  # type: ignore[arg-type]


def _client_view(w: Writer) -> tuple[dict[str, Any] | None, int]:
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
                st = state.apply(CH, st, msg["data"])
    return st, seq


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def _hub() -> tuple[Hub, FakeBroker]:
    hub = Hub(logging.getLogger("test"))
    broker = FakeBroker()
    hub.broker = broker  # type: ignore[assignment]
    for _ in range(3):
        hub.on_publication(CH, broker.publish())  # nobody subscribed yet: ignored
    return hub, broker


async def test_a_synced_pending_subscriber_misses_nothing_across_a_reconnect():
    """Its snapshot was read, no publication reached the channel yet (epoch None), then
    pub/sub went down while two were made."""
    hub, broker = await _hub()
    w = _writer()
    await hub.subscribe(w, CH, None)
    assert hub.channels[CH].epoch is None and w in hub.channels[CH].pending
    broker.publish(), broker.publish()  # lost: pub/sub is down
    hub.recover_all()  # pub/sub is back
    hub.on_publication(CH, broker.publish())
    await _settle()
    st, seq = _client_view(w)
    assert seq == 6 and st is not None and st["game"]["clock"] == 6


async def test_a_subscriber_whose_read_spans_the_outage_misses_nothing():
    """Its snapshot read ran before the outage but answered after the reconnect."""
    hub, broker = await _hub()
    w = _writer()
    broker.hold_reads = True
    subscribing = asyncio.create_task(hub.subscribe(w, CH, None))
    await _settle()
    assert broker.held  # the read ran at seq 3; its reply is on its way
    broker.hold_reads = False
    broker.publish(), broker.publish()  # lost: pub/sub is down
    hub.recover_all()  # pub/sub is back
    hub.on_publication(CH, broker.publish())
    broker.release()
    await subscribing
    await _settle()
    st, seq = _client_view(w)
    assert seq == 6 and st is not None and st["game"]["clock"] == 6
    hub.on_publication(CH, broker.publish())
    await _settle()
    assert _client_view(w)[1] == 7


async def test_a_resumed_subscriber_whose_read_spans_the_outage_misses_nothing():
    """Its replay was read up to seq 3 before the outage, answered after it."""
    hub, broker = await _hub()
    w = _writer()
    broker.hold_reads = True
    subscribing = asyncio.create_task(hub.subscribe(w, CH, Position(EPOCH, 1)))
    await _settle()
    broker.hold_reads = False
    broker.publish()  # lost: pub/sub is down
    hub.recover_all()
    broker.release()
    await subscribing
    hub.on_publication(CH, broker.publish())
    await _settle()
    first = orjson.loads(w.queue[0].msg)
    assert first["type"] == "subscribed" and first["recovered"] is True
    assert _client_view(w)[1] == 5


async def test_a_pending_subscriber_gets_the_snapshot_a_recovery_falls_back_to():
    """The channel has a position; a subscriber's read saw a publication still in flight
    (so it waits, pending); then pub/sub went down and history could not cover the gap."""
    hub, broker = await _hub()
    a, b = _writer(), _writer()
    await hub.subscribe(a, CH, None)
    hub.on_publication(CH, broker.publish())  # 4: the channel has a position now
    in_flight = broker.publish()  # 5, not delivered yet
    await hub.subscribe(b, CH, None)  # its snapshot is at 5: pending until 5 arrives
    assert b in hub.channels[CH].pending and hub.channels[CH].pending[b].synced
    del in_flight
    broker.publish(), broker.publish()  # 6, 7: lost with 5 while pub/sub is down
    broker.trimmed = True
    hub.recover_all()
    await _settle()
    hub.on_publication(CH, broker.publish())  # 8
    await _settle()
    for w in (a, b):
        st, seq = _client_view(w)
        assert seq == 8 and st is not None and st["game"]["clock"] == 8
    assert b in hub.channels[CH].live
