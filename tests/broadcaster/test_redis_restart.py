"""Redis restarting empty under a running ingest and gateway: stale, then live and resynced."""

from __future__ import annotations

import asyncio

from stack import redis_server
from stack.settings import StackSettings
from tests.broadcaster.helpers import (
    Client,
    build_state,
    by_channel,
    expected_states,
    free_port,
    produce,
    run_id,
    simulate,
)


async def test_redis_restart_marks_stale_then_resyncs_with_a_new_epoch(
    stack, start_ingest, start_gateway
):
    own = StackSettings(data_dir=stack.settings.data_dir / "redis-restart", redis_port=free_port())
    redis = redis_server.start(own)
    try:
        await redis_server.wait_ready(own, redis)
        group = run_id("fanout-restart")
        ingest = await start_ingest("ingest-restart", REDIS_URL=own.redis_url,
                                    INGEST_GROUP_ID=group)  # fmt: skip
        gw = await start_gateway("gateway-restart", REDIS_URL=own.redis_url)
        rid = run_id("restart")
        events = simulate(400, rid, games=1)
        ch = f"game:{events[0].game_id}"
        per = by_channel(events)[ch]
        cut = next(i for i, e in enumerate(events) if e is per[100])
        c = await Client.connect(gw.url())
        await c.send(op="subscribe", channels=[ch])
        first = await c.wait_type("subscribed", channel=ch)
        await produce(stack.kafka_bootstrap, events[:cut])
        await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == 100, timeout=30)

        redis.stop()
        stale = await c.wait_type("status", timeout=10, state="stale")
        assert stale["reason"]
        redis = redis_server.start(own)
        await redis_server.wait_ready(own, redis)
        await c.wait_type("status", timeout=15, state="live")
        await produce(stack.kafka_bootstrap, events[cut:])
        again = await c.wait_for(
            lambda m: m.get("type") == "subscribed" and m["channel"] == ch
            and m["epoch"] != first["epoch"], timeout=30,
        )  # fmt: skip
        assert again["recovered"] is False
        rest = len(per) - 100
        await c.wait_for(lambda m: m.get("channel") == ch and m.get("seq") == rest
                         and m["type"] in ("event", "snapshot"), timeout=30)  # fmt: skip
        st, seq, _ = build_state(c.messages[c.messages.index(again) :], ch)
        # Redis came back empty: the state holds what happened since.
        assert seq == rest and st == expected_states(events[cut:])[ch][1]
        assert not c.closed.is_set()
        await c.close()
        await gw.stop()
        await ingest.stop()
    finally:
        redis.stop()
        await asyncio.sleep(0)
