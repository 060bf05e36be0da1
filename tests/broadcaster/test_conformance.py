"""Protocol v1 against a real gateway, ingest, Redis and broker, with a real WebSocket client."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from broadcaster import keys, state
from inplay_events import to_dict
from tests.broadcaster.helpers import (
    Client,
    build_state,
    by_channel,
    event_seqs,
    expected_states,
    produce,
    run_id,
    simulate,
    token,
)


async def test_welcome(gateway):
    c = await Client.connect(gateway.url())
    w = await c.wait_type("welcome")
    assert w == {"type": "welcome", "protocol": 1, "heartbeat_ms": 1000, "status": "live"}
    await c.send(op="ping")
    await c.wait_type("pong")
    await c.close()


async def test_snapshot_then_contiguous_deltas_build_the_kafka_state(stack, gateway):
    rid = run_id("conf")
    events = simulate(1500, rid, games=2)
    first, rest = events[:600], events[600:]
    await produce(stack.kafka_bootstrap, first)
    expected = expected_states(events)
    game_channels = sorted(ch for ch in expected if ch.startswith("game:"))
    user_channel = next(ch for ch in expected if ch.startswith("user:"))
    # Wait until ingest applied the first part, so the snapshot is not empty.
    probe = await Client.connect(gateway.url())
    n_first = expected_states(first)[game_channels[0]][0]
    await probe.send(op="subscribe", channels=[game_channels[0]])
    await probe.wait_for(
        lambda m: m.get("type") in ("snapshot", "event") and m.get("seq", 0) >= n_first
    )
    await probe.close()

    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[*game_channels, "games"], ref="s1")
    for ch in game_channels:
        snap = await c.wait_type("snapshot", channel=ch)
        assert snap["seq"] >= 1 and snap["data"]["game"]["game_id"] == ch[5:]
    await produce(stack.kafka_bootstrap, rest)
    for ch in game_channels:
        total = expected[ch][0]
        await c.wait_for(lambda m, ch=ch, t=total: m.get("channel") == ch and m.get("seq") == t)
        st, seq, _ = build_state(c.messages, ch)
        assert seq == total
        assert st == expected[ch][1]  # exactly the state built from the Kafka events
        subscribed = [m for m in c.of(ch) if m["type"] == "subscribed"]
        assert len(subscribed) == 1 and subscribed[0]["recovered"] is False
    # A fresh snapshot shows what snapshot + deltas built (games also holds other tests' games).
    _, g_seq, _ = build_state(c.messages, "games")
    await asyncio.sleep(0.3)
    d = await Client.connect(gateway.url())
    await d.send(op="auth", token=token(user_channel[5:]))
    await d.send(op="subscribe", channels=["games", user_channel])
    snap = await d.wait_type("snapshot", channel="games")
    if snap["seq"] == build_state(c.messages, "games")[1]:
        assert snap["data"] == build_state(c.messages, "games")[0]
    mine = {k: v for k, v in snap["data"]["games"].items() if k.startswith(rid)}
    assert mine == {k: v for k, v in expected["games"][1]["games"].items() if k.startswith(rid)}
    user_snap = await d.wait_type("snapshot", channel=user_channel)
    mine_bets = [b for b in user_snap["data"]["bets"] if b["game_id"].startswith(rid)]
    want = [
        state.bet_object(to_dict(e))
        for e in events
        if e.type == "bet" and f"user:{e.account_id}" == user_channel
    ]
    # Bets of different games come from different partitions: their order may differ.
    assert mine_bets and all(b in want for b in mine_bets)
    if len(want) < 50:
        assert sorted(mine_bets, key=str) == sorted(want, key=str)
    assert g_seq >= 1
    await c.close()
    await d.close()


async def test_unsubscribe_stops_delivery(stack, gateway):
    rid = run_id("unsub")
    events = simulate(400, rid, games=1)
    ch = f"game:{events[0].game_id}"
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[ch])
    await c.wait_type("snapshot", channel=ch)
    await produce(stack.kafka_bootstrap, events[:100])
    n100 = len(by_channel(events[:100])[ch])
    await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == n100)
    await c.send(op="unsubscribe", channels=[ch])
    await c.send(op="ping", ref="after")
    await c.wait_type("pong")
    count = len(c.of(ch))
    await produce(stack.kafka_bootstrap, events[100:])
    # A second client proves the events flowed while the first heard nothing.
    d = await Client.connect(gateway.url())
    await d.send(op="subscribe", channels=[ch])
    total = len(by_channel(events)[ch])
    await d.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total)
    assert len(c.of(ch)) == count
    await c.send(op="unsubscribe", channels=[ch], ref=5)
    err = await c.wait_type("error", ref=5)
    assert err["code"] == "not_subscribed"
    await c.close()
    await d.close()


async def test_resume_replays_exactly_the_missed_events(stack, gateway):
    rid = run_id("resume")
    events = simulate(250, rid, games=1)  # the missed part fits the history (200)
    ch = f"game:{events[0].game_id}"
    per = by_channel(events)[ch]
    cut = next(i for i, e in enumerate(events) if e is per[60])
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[ch])
    await c.wait_type("snapshot", channel=ch)
    await produce(stack.kafka_bootstrap, events[:cut])
    await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == 60)
    st, seq, epoch = build_state(c.messages, ch)
    await c.close()
    await produce(stack.kafka_bootstrap, events[cut:])
    total = len(per)
    assert total - 60 < 200
    d = await Client.connect(gateway.url())
    # Wait for ingest via a plain subscriber, then resume on another connection.
    await d.send(op="subscribe", channels=[ch])
    await d.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total)
    r = await Client.connect(gateway.url())
    await r.send(op="subscribe", channels=[ch], resume={ch: {"epoch": epoch, "seq": seq}})
    sub = await r.wait_type("subscribed", channel=ch)
    assert sub == {
        "type": "subscribed",
        "channel": ch,
        "epoch": epoch,
        "seq": 60,
        "recovered": True,
    }
    await r.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total)
    assert event_seqs(r.messages, ch) == list(range(61, total + 1))
    assert not [m for m in r.of(ch) if m["type"] == "snapshot"]
    for m in r.of(ch)[1:]:
        st = state.apply(ch, st, m["data"])
    assert st == expected_states(events)[ch][1]
    # Already up to date: recovered with nothing to replay.
    u = await Client.connect(gateway.url())
    await u.send(op="subscribe", channels=[ch], resume={ch: {"epoch": epoch, "seq": total}})
    assert (await u.wait_type("subscribed", channel=ch))["recovered"] is True
    await u.send(op="ping")
    await u.wait_type("pong")
    assert [m["type"] for m in u.of(ch)] == ["subscribed"]
    for x in (d, r, u):
        await x.close()


async def test_resume_after_trim_or_other_epoch_gets_a_snapshot(stack, gateway):
    rid = run_id("trim")
    events = simulate(1200, rid, games=1)  # > history maxlen (200) events in the game channel
    ch = f"game:{events[0].game_id}"
    total = len(by_channel(events)[ch])
    assert total > 450
    await produce(stack.kafka_bootstrap, events)
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[ch])
    await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == total, timeout=20)
    epoch = (await c.wait_type("subscribed", channel=ch))["epoch"]
    for resume in ({"epoch": epoch, "seq": 3}, {"epoch": "other-epoch", "seq": total - 1}):
        r = await Client.connect(gateway.url())
        await r.send(op="subscribe", channels=[ch], resume={ch: resume})
        sub = await r.wait_type("subscribed", channel=ch)
        assert sub["recovered"] is False and sub["seq"] == total and sub["epoch"] == epoch
        snap2 = await r.wait_type("snapshot", channel=ch)
        assert snap2["data"] == expected_states(events)[ch][1]
        await r.close()
    await c.close()


async def test_metrics_endpoint(gateway):
    import urllib.request

    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=["games"])
    await c.wait_type("snapshot", channel="games")
    url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    values = {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line and not line.startswith("#") and "{" not in line.split(" ")[0]
    }
    for name in (
        "inplay_gateway_connections",
        "inplay_gateway_subscriptions",
        "inplay_gateway_channels",
        "inplay_gateway_messages_out_total",
        "inplay_gateway_bytes_out_total",
        "inplay_gateway_frames_out_total",
        "inplay_gateway_conflations_total",
        "inplay_gateway_slow_closes_total",
        "inplay_gateway_feed_to_send_seconds_count",
        "inplay_gateway_publish_to_send_seconds_count",
    ):
        assert name in values, name
    assert values["inplay_gateway_connections"] >= 1
    assert values["inplay_gateway_subscriptions"] >= 1
    assert values["inplay_gateway_messages_out_total"] >= values["inplay_gateway_frames_out_total"]
    assert values["inplay_gateway_bytes_out_total"] > 0
    await c.close()


async def test_deltas_match_a_fresh_snapshot_while_games_settle(stack, gateway):
    """Games that settle or are cancelled mid-stream leave games/league by delta exactly as a
    fresh snapshot shows them gone (the simulator runs fast enough here for games to end)."""
    rid = run_id("settle")
    events = simulate(1500, rid, games=2, events_per_sec=20, speedup=3000)
    first, rest = events[:300], events[300:]
    ended = {e.game_id for e in rest if e.type == "game" and state.ended(to_dict(e))}
    # Ended by a delta after the snapshot showed them: the case a client must get right.
    assert {e.game_id for e in first} & ended
    expected = expected_states(events)
    channels = ["games", *sorted(ch for ch in expected if ch.startswith("league:"))]
    r = aioredis.from_url(stack.redis_url)

    async def applied(evs: list) -> None:
        want = expected_states(evs)
        for ch in (ch for ch in want if ch.startswith("game:")):
            for _ in range(400):
                if int(await r.hget(keys.meta(ch), "seq") or 0) >= want[ch][0]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"ingest did not apply {ch}")

    await produce(stack.kafka_bootstrap, first)
    await applied(first)
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=channels)
    snap = await c.wait_type("snapshot", channel="games")
    assert {g for g in snap["data"]["games"] if g.startswith(rid)} & ended
    await produce(stack.kafka_bootstrap, rest)
    await applied(events)
    built: dict[str, tuple[dict | None, int]] = {}
    for ch in channels:
        target = int(await r.hget(keys.meta(ch), "seq") or 0)
        await c.wait_for(
            lambda m, ch=ch, t=target: (
                m.get("channel") == ch and m["type"] in ("snapshot", "event") and m["seq"] == t
            )
        )
        st, seq, _ = build_state(c.messages, ch)
        assert st is not None and seq == target
        built[ch] = (st, seq)
        mine = {k: v for k, v in st["games"].items() if k.startswith(rid)}
        assert mine == {k: v for k, v in expected[ch][1]["games"].items() if k.startswith(rid)}
        assert not set(mine) & ended
    # Nothing else publishes now: a fresh snapshot at the same seq equals the built state.
    d = await Client.connect(gateway.url())
    await d.send(op="subscribe", channels=channels)
    for ch in channels:
        fresh = await d.wait_type("snapshot", channel=ch)
        assert (fresh["seq"], fresh["data"]) == (built[ch][1], built[ch][0]), ch
    await c.close()
    await d.close()
    await r.aclose()
