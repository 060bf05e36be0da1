"""Redis losing a channel (as after an empty restart): a new epoch, and clients resync."""

from __future__ import annotations

import redis.asyncio as aioredis

from broadcaster import keys
from tests.broadcaster.helpers import (
    Client,
    build_state,
    by_channel,
    expected_states,
    produce,
    run_id,
    simulate,
)


async def test_lost_channel_gets_a_new_epoch_and_live_clients_a_fresh_snapshot(stack, gateway):
    rid = run_id("epoch")
    events = simulate(300, rid, games=1)
    ch = f"game:{events[0].game_id}"
    per = by_channel(events)[ch]
    cut = next(i for i, e in enumerate(events) if e is per[100])
    live = await Client.connect(gateway.url())
    await live.send(op="subscribe", channels=[ch])
    first = await live.wait_type("subscribed", channel=ch)
    await produce(stack.kafka_bootstrap, events[:cut])
    await live.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == 100)
    # Redis forgets the channel: numbering, state and history.
    r = aioredis.from_url(stack.redis_url)
    await r.delete(keys.meta(ch), keys.state(ch), keys.history(ch))
    await r.aclose()
    await produce(stack.kafka_bootstrap, events[cut:])
    rest = len(per) - 100
    again = await live.wait_for(
        lambda m: (
            m.get("type") == "subscribed" and m["channel"] == ch and m["epoch"] != first["epoch"]
        ),
        timeout=20,
    )
    assert again["recovered"] is False
    await live.wait_for(
        lambda m: (
            m.get("channel") == ch
            and m.get("seq") == rest
            and m.get("type") in ("event", "snapshot")
        ),
        timeout=20,
    )
    after = live.messages[live.messages.index(again) :]
    st, seq, epoch = build_state(after, ch)
    assert epoch == again["epoch"] and seq == rest
    assert st == expected_states(events[cut:])[ch][1]
    # A client resuming from the old epoch gets the new one, with a snapshot.
    old = await Client.connect(gateway.url())
    await old.send(
        op="subscribe", channels=[ch], resume={ch: {"epoch": first["epoch"], "seq": 100}}
    )
    sub = await old.wait_type("subscribed", channel=ch)
    assert sub["recovered"] is False and sub["epoch"] == again["epoch"]
    assert (await old.wait_type("snapshot", channel=ch))["data"] == st
    await live.close()
    await old.close()
