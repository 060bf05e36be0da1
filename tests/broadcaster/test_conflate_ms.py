"""Client-chosen conflation: at most one update per market per interval, resume stays exact."""

from __future__ import annotations

import itertools
from collections import defaultdict

from broadcaster import state
from tests.broadcaster.helpers import Client, by_channel, expected_states, produce, run_id, simulate


async def test_conflate_ms_limits_updates_and_keeps_state_and_resume_exact(stack, gateway):
    rid = run_id("cms")
    events = simulate(1200, rid, games=1)
    ch = f"game:{events[0].game_id}"
    total = len(by_channel(events)[ch])
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[ch], conflate_ms=200)
    snap = await c.wait_type("snapshot", channel=ch)
    plain = await Client.connect(gateway.url())
    await plain.send(op="subscribe", channels=[ch])
    await plain.wait_type("snapshot", channel=ch)
    await produce(stack.kafka_bootstrap, events, rate=400)
    await plain.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total, timeout=30)
    await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total, timeout=30)
    got = [m for m in c.messages if m.get("channel") == ch and m["type"] == "event"]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len(got) < total / 5  # far fewer messages than events
    assert any(m.get("conflated") for m in got)
    # At most one update per market per interval (timer jitter allowed).
    rx: dict[str, list[int]] = defaultdict(list)
    for m in got:
        if m["data"]["type"] == "odds":
            rx[m["data"]["market_id"]].append(c.messages.index(m))
    arrivals = {i: t for i, t in enumerate(c.arrivals)}
    for idx in rx.values():
        times = [arrivals[i] for i in idx]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Flushes run >= 200 ms apart; arrival jitter on a busy box eats some of that.
        assert all(g > 0.1 for g in gaps), gaps
    # The state from snapshot + conflated deltas is the state at the last seq.
    st = snap["data"]
    for m in got:
        st = state.apply(ch, st, m["data"])
    assert st == expected_states(events)[ch][1]
    # Resuming from a seq the client has is exact: nothing missing, nothing repeated
    # (a seq recent enough for the history of 200).
    mid = max(s for s in seqs if s <= total - 20)
    r = await Client.connect(gateway.url())
    epoch = snap["epoch"]
    await r.send(op="subscribe", channels=[ch], resume={ch: {"epoch": epoch, "seq": mid}})
    sub = await r.wait_type("subscribed", channel=ch)
    assert sub["recovered"] is True
    await r.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total)
    st_mid = snap["data"]
    for m in got:
        if m["seq"] <= mid:
            st_mid = state.apply(ch, st_mid, m["data"])
    for m in r.messages:
        if m.get("channel") == ch and m["type"] == "event":
            st_mid = state.apply(ch, st_mid, m["data"])
    assert st_mid == expected_states(events)[ch][1]
    for x in (c, plain, r):
        await x.close()
