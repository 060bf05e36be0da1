"""Two ingest workers and two gateways at once: every client sees the same seqs."""

from __future__ import annotations

import asyncio

from tests.broadcaster.helpers import Client, by_channel, produce, run_id, simulate


async def test_two_ingests_two_gateways_agree(stack, gateway, start_gateway, start_ingest):
    second_ingest = await start_ingest("ingest-b")
    other = await start_gateway("gateway-b")
    # Both workers of the group share the partitions once the rebalance is done.
    for _ in range(300):
        assigned = [r for r in second_ingest.logs() if r["message"] == "partitions assigned"]
        if assigned:
            break
        await asyncio.sleep(0.1)
    assert assigned, "the second ingest worker never got partitions"
    assert 0 < assigned[-1]["count"] < 12  # 3 topics x 4 partitions, split between two
    rid = run_id("scale")
    events = simulate(3000, rid, games=4)
    chans = by_channel(events)
    game_chs = sorted(ch for ch in chans if ch.startswith("game:"))
    clients = [await Client.connect(g.url()) for g in (gateway, other) for _ in range(3)]
    for c in clients:
        await c.send(op="subscribe", channels=game_chs)
    for c in clients:
        for ch in game_chs:
            await c.wait_type("snapshot", channel=ch)
    await produce(stack.kafka_bootstrap, events, rate=3000)
    views = []
    for c in clients:
        for ch in game_chs:
            n = len(chans[ch])
            await c.wait_for(
                lambda m, ch=ch, n=n: m.get("channel") == ch and m.get("seq") == n, timeout=40
            )
        views.append(
            {
                ch: [(m["seq"], m["data"]["id"]) for m in c.of(ch) if m["type"] == "event"]
                for ch in game_chs
            }
        )
    for ch in game_chs:
        ids = [e.id for e in chans[ch]]
        for v in views:
            seqs = [s for s, _ in v[ch]]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            assert sorted(i for _, i in v[ch]) == sorted(ids[-len(seqs) :]) or len(seqs) == len(ids)
        # Every client of both gateways saw the same event at the same seq.
        assert all(v[ch] == views[0][ch] for v in views)
    for c in clients:
        await c.close()
    await asyncio.sleep(0)
