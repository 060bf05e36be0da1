"""Redis restarting under a running ingest and gateway: stale, then live and whole again.

Restarted with its append-only file, Redis keeps everything: clients go on in the same epoch.
Restarted empty, ingest notices (its marks are gone) and rebuilds the state from the
retained topics, quietly: clients get a new epoch and a snapshot holding every event.
"""

from __future__ import annotations

import asyncio
import shutil

from broadcaster.ingest.partitions import REBUILDING, REBUILT
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


async def _restart(stack, start_ingest, start_gateway, label: str, empty: bool) -> None:
    own = StackSettings(data_dir=stack.settings.data_dir / f"redis-{label}", redis_port=free_port())
    shutil.rmtree(redis_server.folder(own), ignore_errors=True)
    redis = redis_server.start(own)
    try:
        await redis_server.wait_ready(own, redis)
        group = run_id(f"fanout-{label}")
        ingest = await start_ingest(
            f"ingest-{label}", REDIS_URL=own.redis_url, INGEST_GROUP_ID=group
        )
        gw = await start_gateway(f"gateway-{label}", REDIS_URL=own.redis_url)
        events = simulate(400, run_id(label), games=1)
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
        if empty:
            shutil.rmtree(redis_server.folder(own))
        redis = redis_server.start(own)
        await redis_server.wait_ready(own, redis)
        await c.wait_type("status", timeout=15, state="live")
        await produce(stack.kafka_bootstrap, events[cut:])
        if empty:
            last = await c.wait_for(
                lambda m: (
                    m.get("type") == "subscribed"
                    and m["channel"] == ch
                    and m["epoch"] != first["epoch"]
                ),
                timeout=30,
            )
            assert last["recovered"] is False
        await c.wait_for(
            lambda m: (
                m.get("channel") == ch
                and m.get("seq") == len(per)
                and m["type"] in ("event", "snapshot")
            ),
            timeout=30,
        )
        # From the newest subscribed on (the gateway may resync more than once while ingest
        # rebuilds): every event of the game, those before the restart included.
        subs = [i for i, m in enumerate(c.messages) if m.get("type") == "subscribed"]
        st, seq, epoch = build_state(c.messages[subs[-1] :], ch)
        assert seq == len(per) and st == expected_states(events)[ch][1]
        assert (epoch != first["epoch"]) is empty
        # The game's own partitions go live as soon as they are rebuilt; the others may
        # still be rebuilding (the session's whole log).
        for _ in range(600 if empty else 0):
            if any(x["message"] == REBUILT for x in ingest.logs()):
                break
            await asyncio.sleep(0.1)
        assert any(x["message"] == REBUILT for x in ingest.logs()) is empty
        assert any(x["message"] == REBUILDING for x in ingest.logs()) is empty
        assert not c.closed.is_set()
        await c.close()
        await gw.stop()
        await ingest.stop()
    finally:
        redis.stop()
        await asyncio.sleep(0)


async def test_redis_restart_with_its_data_goes_on_in_the_same_epoch(
    stack, start_ingest, start_gateway
):
    await _restart(stack, start_ingest, start_gateway, "restart-kept", empty=False)


async def test_redis_restarted_empty_is_rebuilt_and_clients_resync_with_a_new_epoch(
    stack, start_ingest, start_gateway
):
    await _restart(stack, start_ingest, start_gateway, "restart-empty", empty=True)
