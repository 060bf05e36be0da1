"""The writer's flush: one frame per connection per window, array frames shared by identical
queues, control messages never mixed into another connection's frame."""

from __future__ import annotations

import asyncio

import orjson

from broadcaster.gateway.writer import Flusher, Marks, Message, Stats, Writer


class Transport:
    """What a uvloop transport offers the writer: a write buffer size and write()."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.frames.append(data)


def _payload(frame: bytes) -> object:
    assert frame[0] == 0x81  # final text frame
    n = frame[1]
    return orjson.loads(frame[4:] if n == 126 else frame[2:])


def _event(seq: int) -> Message:
    msg = orjson.dumps({"type": "event", "channel": "game:g", "seq": seq, "data": {}})
    return Message(msg, "game:g", seq, 1, None, False, 1)


async def test_identical_queues_share_one_array_frame_and_others_get_their_own():
    flusher = Flusher(0.0, Marks(1 << 20, 1 << 21, 10.0), Stats(), lambda _: None, lambda _: None)
    ts = [Transport() for _ in range(3)]
    ws = [Writer(t, flusher, lambda: None) for t in ts]  # type: ignore[arg-type]
    e1, e2 = _event(1), _event(2)
    for w in ws:
        w.push(e1)
        w.push(e2)
    ws[2].push_bytes(b'{"type":"pong"}')  # only this connection's frame holds it
    await asyncio.sleep(0)  # the flush runs at the end of the loop iteration
    assert [len(t.frames) for t in ts] == [1, 1, 1]
    assert ts[0].frames[0] is ts[1].frames[0]  # built once, written twice
    assert _payload(ts[0].frames[0]) == [orjson.loads(e1.msg), orjson.loads(e2.msg)]
    assert _payload(ts[2].frames[0])[-1] == {"type": "pong"}
    assert flusher.joined == {}  # nothing kept past the run
    assert flusher.stats.messages == 7 and flusher.stats.frames == 3
