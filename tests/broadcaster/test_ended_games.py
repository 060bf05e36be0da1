"""Ended games against the real Redis: they leave games/league, and their own keys expire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from broadcaster import keys
from broadcaster.ingest.redis_scripts import ApplyConfig, batch_call
from broadcaster.redis_lua import APPLY_LUA
from inplay_events import decode
from tests.broadcaster.helpers import Client, build_state, by_channel, produce, run_id, simulate


def _keys_of(channel: str) -> list[str]:
    return [keys.meta(channel), keys.state(channel), keys.history(channel)]


async def test_a_settled_game_leaves_games_and_league_and_its_keys_get_a_ttl(stack, gateway):
    rid = run_id("ended")
    events = simulate(400, rid, games=2, events_per_sec=20, speedup=3000)
    settled = next(e for e in events if e.type == "game" and e.status == "settled")
    gid, lch, gch = settled.game_id, f"league:{settled.league}", f"game:{settled.game_id}"
    other = next(e.game_id for e in events if e.game_id != gid)
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=["games", lch, gch])
    await c.wait_type("snapshot", channel=gch)
    await produce(stack.kafka_bootstrap, events)
    total = len(by_channel(events)[gch])
    await c.wait_for(lambda m: m.get("channel") == gch and m.get("seq") == total)
    for ch in ("games", lch):
        # The event that says so is published in the channel the game leaves.
        ev = await c.wait_for(
            lambda m, ch=ch: (
                m.get("channel") == ch and m["type"] == "event" and m["data"]["id"] == settled.id
            )
        )
        assert ev["data"]["status"] == "settled"
        st, _, _ = build_state(c.messages, ch)
        assert st is not None and gid not in st["games"]
    r = aioredis.from_url(stack.redis_url)
    assert not await r.hexists(keys.state("games"), gid)
    assert not await r.hexists(keys.state(lch), gid)
    assert await r.hexists(keys.state("games"), other)  # a game not over stays
    st, _, _ = build_state(c.messages, gch)
    assert st is not None and st["game"]["status"] == "settled"  # its channel keeps it
    for key in _keys_of(gch):
        assert 0 < await r.pttl(key) <= 3_600_000, key
    assert await r.pttl(keys.meta(f"game:{other}")) == -1
    assert await r.pttl(keys.state(f"game:{other}")) == -1
    await c.close()
    await r.aclose()


def _game(gid: str, seq: int, status: str, kind: str) -> dict[str, Any]:
    extra = {"results": {f"{gid}-mw": "home"}} if kind == "settled" else {}
    return {
        "v": 1,
        "id": f"{gid}-e{seq}-{uuid.uuid4().hex[:6]}",
        "game_id": gid,
        "ts": seq,
        "seq": seq,
        "type": "game",
        "kind": kind,
        "status": status,
        "league": "TTL League",
        "sport": "football",
        "home": "A",
        "away": "B",
        "start_time": 5,
        "score": {"home": 1, "away": 0},
        "period": 2,
        "clock": 5400,
        **extra,
    }


def _applier(r: aioredis.Redis, **expiries: int) -> Callable[..., Awaitable[None]]:
    """Applies event dicts with ingest's own script and short expiries; all must apply."""
    script = r.register_script(APPLY_LUA)
    config = ApplyConfig(
        history_maxlen=100, history_ttl_ms=60_000, dedupe_ttl_ms=60_000, user_bets=5, **expiries
    )

    async def apply(*evs: dict[str, Any]) -> None:
        call = batch_call([decode(e) for e in evs], uuid.uuid4().hex, config)
        assert await script(keys=call.keys, args=call.args) == [0] * len(evs)

    return apply


async def test_ended_keys_expire_and_a_later_event_starts_a_new_epoch(stack):
    """The apply script itself, with a short expiry (the session's ingest uses the default)."""
    r = aioredis.from_url(stack.redis_url)
    apply = _applier(r, ended_ttl_ms=300)
    gid = f"ttl-{uuid.uuid4().hex[:8]}"
    ch = f"game:{gid}"
    await apply(_game(gid, 1, "live", "started"), _game(gid, 2, "settled", "settled"))
    first_epoch = await r.hget(keys.meta(ch), "epoch")
    for key in _keys_of(ch):
        assert 0 < await r.pttl(key) <= 300, key
    assert not await r.hexists(keys.state("league:TTL League"), gid)
    await asyncio.sleep(0.5)
    assert not await r.exists(*_keys_of(ch))
    # A late event (rare): a new epoch, numbering from 1, and no expiry while not ended.
    await apply(_game(gid, 3, "live", "resumed"))
    assert await r.hget(keys.meta(ch), "epoch") != first_epoch
    assert await r.hget(keys.meta(ch), "seq") == b"1"
    assert await r.pttl(keys.meta(ch)) == -1
    assert await r.hexists(keys.state("games"), gid)
    # Back from ended before the expiry: the expiry is lifted again.
    await apply(_game(gid, 4, "cancelled", "cancelled"))
    assert 0 < await r.pttl(keys.state(ch)) <= 300
    await apply(_game(gid, 5, "live", "resumed"))
    assert await r.pttl(keys.meta(ch)) == -1 and await r.pttl(keys.state(ch)) == -1
    assert await r.hget(keys.meta(ch), "seq") == b"3"
    await apply(_game(gid, 6, "cancelled", "cancelled"))  # out of the shared games state
    assert not await r.hexists(keys.state("games"), gid)
    await r.aclose()


async def test_a_subscriber_alone_creates_no_permanent_keys(stack, gateway):
    """Subscribing to a channel nothing publishes in numbers it with an expiry; the first
    publication makes that numbering permanent (same epoch, so subscribers carry on)."""
    rid = run_id("tentative")
    events = simulate(60, rid, games=1)
    gch = f"game:{events[0].game_id}"
    c = await Client.connect(gateway.url())
    await c.send(op="subscribe", channels=[gch, f"game:{rid}-made-up"])
    snap = await c.wait_type("snapshot", channel=gch)
    await c.wait_type("snapshot", channel=f"game:{rid}-made-up")
    r = aioredis.from_url(stack.redis_url)
    for ch in (gch, f"game:{rid}-made-up"):
        assert 0 < await r.pttl(keys.meta(ch)) <= 600_000, ch
        assert not await r.exists(keys.state(ch))
    await produce(stack.kafka_bootstrap, events)
    total = len(by_channel(events)[gch])
    last = await c.wait_for(lambda m: m.get("channel") == gch and m.get("seq") == total)
    assert last["type"] == "event"
    assert await r.pttl(keys.meta(gch)) == -1  # a real channel now
    assert not await r.hexists(keys.meta(gch), "tentative")
    assert await r.hget(keys.meta(gch), "epoch") == snap["epoch"].encode()
    seqs = [m["seq"] for m in c.messages if m.get("channel") == gch and m["type"] == "event"]
    assert seqs == list(range(1, total + 1))  # no resync, no gap
    assert 0 < await r.pttl(keys.meta(f"game:{rid}-made-up")) <= 600_000
    await c.close()
    await r.aclose()


async def test_an_idle_accounts_channel_expires_and_its_next_bet_starts_a_new_epoch(stack):
    r = aioredis.from_url(stack.redis_url)
    apply = _applier(r, user_ttl_ms=300)
    account = f"acct-{uuid.uuid4().hex[:8]}"
    ch = f"user:{account}"

    def bet(n: int) -> dict[str, Any]:
        return {
            "v": 1,
            "id": f"{account}-b{n}",
            "type": "bet",
            "game_id": "ttl-game",
            "ts": n,
            "seq": n,
            "bet_id": f"{account}-b{n}",
            "account_id": account,
            "market_id": "ttl-game-mw",
            "selection_id": "home",
            "stake": 500,
            "price": 2.5,
        }

    await apply(bet(1))
    first_epoch = await r.hget(keys.meta(ch), "epoch")
    for key in _keys_of(ch):
        assert await r.pttl(key) > 0, key
    assert await r.pttl(keys.meta(ch)) <= 300 and await r.pttl(keys.state(ch)) <= 300
    await asyncio.sleep(0.5)
    assert not await r.exists(keys.meta(ch), keys.state(ch))
    await apply(bet(2))  # the account is back: a new epoch, numbering from 1
    assert await r.hget(keys.meta(ch), "epoch") != first_epoch
    assert await r.hget(keys.meta(ch), "seq") == b"1"
    assert await r.llen(keys.state(ch)) == 1
    await r.aclose()
