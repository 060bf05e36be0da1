"""Subscribing while events stream in: no gap, no duplicate, for 200 subscribe attempts."""

from __future__ import annotations

import asyncio
import random

from broadcaster import state
from tests.broadcaster.helpers import (
    Client,
    by_channel,
    expected_states,
    produce,
    run_id,
    simulate,
)


def segments(messages: list[dict], ch: str) -> list[list[dict]]:
    """The channel's messages split at each ``subscribed`` (one list per subscription)."""
    out: list[list[dict]] = []
    for m in messages:
        if m.get("channel") != ch:
            continue
        if m["type"] == "subscribed":
            out.append([])
        out[-1].append(m)
    return out


def check_segment(seg: list[dict], ch: str) -> tuple[int, dict]:
    """Snapshot then seqs S+1, S+2, ... exactly; the state it builds and its last seq."""
    sub, snap, *events = seg
    assert sub["type"] == "subscribed" and snap["type"] == "snapshot"
    assert snap["seq"] == sub["seq"]
    st, seq = snap["data"], snap["seq"]
    for m in events:
        assert m["type"] == "event", m
        assert m["seq"] == seq + 1, f"expected {seq + 1}, got {m['seq']}"
        seq = m["seq"]
        st = state.apply(ch, st, m["data"])
    return seq, st


async def test_200_subscribes_during_a_fast_stream(stack, gateway):
    rid = run_id("race")
    events = simulate(5000, rid, games=1)
    ch = f"game:{events[0].game_id}"
    total = len(by_channel(events)[ch])
    rng = random.Random(5)
    clients = [await Client.connect(gateway.url()) for _ in range(100)]
    feeding = asyncio.create_task(produce(stack.kafka_bootstrap, events, rate=1500))
    probe = clients[0]
    await probe.send(op="subscribe", channels=[ch])
    await probe.wait_for(lambda m: m.get("channel") == ch and m.get("seq", 0) >= 50)
    await probe.send(op="unsubscribe", channels=[ch])

    async def attempts(c: Client) -> None:
        await asyncio.sleep(rng.uniform(0, 1.0))
        await c.send(op="subscribe", channels=[ch])
        await asyncio.sleep(rng.uniform(0.05, 0.8))
        await c.send(op="unsubscribe", channels=[ch])
        await asyncio.sleep(rng.uniform(0, 0.5))
        await c.send(op="subscribe", channels=[ch])
        # Ops are answered in order: after the pong, every subscribe has been answered.
        await c.send(op="ping", ref="end")
        await c.wait_type("pong", timeout=30)

    await asyncio.gather(*(attempts(c) for c in clients))
    await feeding
    want = expected_states(events)[ch][1]
    mid_stream = 0
    for c in clients:
        await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total, timeout=30)
        segs = segments(c.messages, ch)
        assert len(segs) == (3 if c is probe else 2)
        for seg in segs[:-1]:
            check_segment(seg, ch)
        seq, st = check_segment(segs[-1], ch)
        assert seq == total and st == want
        mid_stream += sum(1 for s in segs if 0 < s[1]["seq"] < total)
    # Most attempts really raced the stream (snapshot taken mid-stream).
    assert mid_stream >= 150, mid_stream
    for c in clients:
        await c.close()
