"""An empty Redis whose Kafka offsets survive is rebuilt from the retained topics.

Each test has its own Redis (flushing the session's would disturb the session's ingest) and
its own consumer group, which reads the whole shared log: its states hold every game the
session produced, and are compared whole.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from broadcaster import keys, publication, state
from broadcaster.channels import Kind, kind_of
from broadcaster.ingest.partitions import REBUILDING, REBUILT, REDIS_LOST
from broadcaster.ingest.redis_scripts import LOST as REFUSED
from broadcaster.ingest.redis_scripts import ApplyConfig, Mark, batch_call
from broadcaster.redis_lua import APPLY_LUA
from inplay_events import TOPICS, Event, GameEvent
from stack import broker, redis_server
from stack.settings import StackSettings
from tests.broadcaster.helpers import (
    Proc,
    by_channel,
    expected_states,
    free_port,
    produce,
    run_id,
    simulate,
)


@pytest_asyncio.fixture
async def own_redis(stack) -> AsyncIterator[str]:
    """A Redis of the test's own (persisted like the stack's), its URL."""
    own = StackSettings(data_dir=stack.settings.data_dir / "rebuild", redis_port=free_port())
    shutil.rmtree(redis_server.folder(own), ignore_errors=True)
    child = redis_server.start(own)
    try:
        await redis_server.wait_ready(own, child)
        yield own.redis_url
    finally:
        child.stop()


def _feed(rid: str, n: int) -> list[Event]:
    """A feed whose games change and end: one goes live with a score, one settles."""
    events = simulate(n, rid, games=3)
    games = [e for e in events if isinstance(e, GameEvent)]
    top = {g.game_id: max(e.seq for e in events if e.game_id == g.game_id) for g in games}
    live, over = games[0], games[1]
    return [
        *events,
        live.model_copy(
            update={
                "id": live.id + "-live",
                "seq": top[live.game_id] + 1,
                "kind": "started",
                "status": "live",
                "score": live.score.model_copy(update={"home": 1}),
            }
        ),
        over.model_copy(
            update={
                "id": over.id + "-over",
                "seq": top[over.game_id] + 1,
                "kind": "settled",
                "status": "settled",
                "results": {},
            }
        ),
    ]


async def _log_ends(bootstrap: str) -> dict[str, int]:
    """The end offset of every partition of the topics, as mark fields name them."""
    parts = await broker.partitions(bootstrap, TOPICS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {keys.applied_field(tp.topic, tp.partition): end for tp, end in ends.items()}


async def _caught_up(r: aioredis.Redis, group: str, ends: dict[str, int], timeout: float) -> None:
    """Wait until Redis's marks say the group applied every partition to its end."""
    deadline = time.monotonic() + timeout
    marks: dict[str, int] = {}
    while time.monotonic() < deadline:
        raw = await r.hgetall(keys.applied(group))
        marks = {k.decode(): int(v) for k, v in raw.items()}
        if all(marks.get(f, -1) >= end for f, end in ends.items()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not caught up: marks {marks}, log ends {ends}")


async def _states(r: aioredis.Redis) -> dict[str, dict[str, Any]]:
    """Every games, league and game channel's state, as snapshots show it."""
    out = {}
    async for key in r.scan_iter(match=keys.state("*"), count=1000):
        channel = key.decode()[len(keys.state("")) :]
        kind = kind_of(channel)
        if kind is not Kind.USER:
            pairs = await r.hgetall(key)
            out[channel] = state.from_redis(kind, [x for kv in pairs.items() for x in kv])
    return out


async def _epochs(r: aioredis.Redis, channels: list[str]) -> dict[str, bytes | None]:
    return {ch: await r.hget(keys.meta(ch), "epoch") for ch in channels}


async def _wait_log(proc: Proc, message: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [x for x in proc.logs() if x["message"] == message]
        if found:
            return found[0]
        assert proc.proc.returncode is None, proc.log.read_text()[-3000:]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {message!r} in the log:\n{proc.log.read_text()[-3000:]}")


async def _publications(pubsub: Any, quiet_for: float = 1.0) -> list[tuple[str, str, int, dict]]:
    """(channel, epoch, seq, event data) of what pub/sub delivers until it is quiet a while."""
    out = []
    while True:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=quiet_for)
        if msg is None:
            return out
        epoch, seq, _, _, _, body = publication.split(msg["data"])
        message = orjson.loads(body)
        out.append((message["channel"], epoch, seq, message["data"]))


async def _applied_and_stopped(stack, start_ingest, url: str, group: str, events: list[Event]):
    """Produce ``events``, run an ingest until Redis holds the whole log, stop it."""
    await produce(stack.kafka_bootstrap, events)
    ends = await _log_ends(stack.kafka_bootstrap)
    first = await start_ingest("ingest-rebuild", REDIS_URL=url, INGEST_GROUP_ID=group)
    r = aioredis.from_url(url)
    await _caught_up(r, group, ends, timeout=120)
    await first.stop()
    return r, ends


async def test_an_empty_redis_is_rebuilt_from_the_retained_topics(stack, start_ingest, own_redis):
    group, rid = run_id("fanout-rebuild"), run_id("rebuild")
    feed = _feed(rid, 500)
    r, ends = await _applied_and_stopped(stack, start_ingest, own_redis, group, feed)
    before = await _states(r)
    mine = sorted(ch for ch in by_channel(feed) if not ch.startswith("user:"))
    epochs = await _epochs(r, mine)
    over = feed[-1].game_id
    assert before["games"]["games"] and over not in before["games"]["games"]
    assert before[f"game:{feed[-2].game_id}"]["game"]["status"] == "live"

    # An empty Redis after a restart; Kafka kept the records and the group's offsets.
    await r.flushall()
    pubsub = r.pubsub()
    await pubsub.psubscribe(keys.pubsub("*"))
    second = await start_ingest("ingest-rebuilt", REDIS_URL=own_redis, INGEST_GROUP_ID=group)
    done = await _wait_log(second, REBUILT)
    assert done["records"] > 0 and not done["interrupted"]
    await _caught_up(r, group, ends, timeout=30)

    assert await _states(r) == before  # the same games, game objects, markets and prices
    assert over not in (await _states(r))["games"]["games"]
    renumbered = await _epochs(r, mine)
    assert all(renumbered[ch] and renumbered[ch] != epochs[ch] for ch in mine)
    assert await _publications(pubsub) == []  # nothing replayed to clients

    # New events are applied and published as ever, in the new epochs.
    more = simulate(560, rid, games=3)[500:]
    await produce(stack.kafka_bootstrap, more)
    await _caught_up(r, group, await _log_ends(stack.kafka_bootstrap), timeout=60)
    seen = await _publications(pubsub)
    assert {d["id"] for _, _, _, d in seen} == {e.id for e in more}
    game = f"game:{more[0].game_id}"
    ours = [(epoch, seq) for ch, epoch, seq, _ in seen if ch == game]
    assert {epoch for epoch, _ in ours} == {renumbered[game].decode()}
    # Numbered on from the rebuilt seq: as many seqs as the channel has events in all.
    count, expected = expected_states([*feed, *more])[game]
    assert [seq for _, seq in ours] == list(range(count - len(ours) + 1, count + 1))
    assert (await _states(r))[game] == expected
    await second.stop()
    await pubsub.aclose()
    await r.aclose()


async def test_a_redis_that_kept_its_data_is_not_rebuilt(stack, start_ingest, own_redis):
    group, rid = run_id("fanout-kept"), run_id("kept")
    feed = _feed(rid, 300)
    r, _ = await _applied_and_stopped(stack, start_ingest, own_redis, group, feed)
    before = await _states(r)
    mine = sorted(ch for ch in by_channel(feed) if not ch.startswith("user:"))
    epochs = await _epochs(r, mine)
    again = await start_ingest("ingest-kept", REDIS_URL=own_redis, INGEST_GROUP_ID=group)
    more = simulate(330, rid, games=3)[300:]
    await produce(stack.kafka_bootstrap, more)
    game = f"game:{more[0].game_id}"
    expected = expected_states([*feed, *more])[game]
    for _ in range(600):
        if int(await r.hget(keys.meta(game), "seq") or 0) >= expected[0]:
            break
        await asyncio.sleep(0.1)
    assert int(await r.hget(keys.meta(game), "seq")) == expected[0]
    assert await _epochs(r, mine) == epochs
    assert not [x for x in again.logs() if x["message"] in (REBUILDING, REBUILT, REDIS_LOST)]
    after = await _states(r)
    assert after[game] == expected[1]
    touched = set(by_channel(more))
    assert {ch: st for ch, st in after.items() if ch not in touched} == {
        ch: st for ch, st in before.items() if ch not in touched
    }
    await again.stop()
    await r.aclose()


async def test_redis_flushed_under_a_running_ingest_is_rebuilt(stack, start_ingest, own_redis):
    """No event needed to notice: the marks are looked at every second."""
    group, rid = run_id("fanout-flushed"), run_id("flushed")
    feed = _feed(rid, 300)
    await produce(stack.kafka_bootstrap, feed)
    ends = await _log_ends(stack.kafka_bootstrap)
    worker = await start_ingest("ingest-flushed", REDIS_URL=own_redis, INGEST_GROUP_ID=group)
    r = aioredis.from_url(own_redis)
    await _caught_up(r, group, ends, timeout=120)
    before = await _states(r)
    await r.flushall()
    await _wait_log(worker, REDIS_LOST, timeout=30)
    await _wait_log(worker, REBUILT)
    await _caught_up(r, group, ends, timeout=30)
    assert await _states(r) == before
    await worker.stop()
    await r.aclose()


async def test_the_script_applies_quietly_and_refuses_a_redis_without_the_marks(own_redis):
    r = aioredis.from_url(own_redis)
    script = r.register_script(APPLY_LUA)
    config = ApplyConfig(
        history_maxlen=100, history_ttl_ms=60_000, dedupe_ttl_ms=60_000, user_bets=5
    )
    events = simulate(60, run_id("script"), games=1)
    game = f"game:{events[0].game_id}"
    live, rest, more = events[:20], events[20:40], events[40:]

    async def call(evs: list[Event], at_least: int, upto: int, since: int | None = None) -> list:
        marks = [Mark("odds:0", at_least, upto)]
        call = batch_call(
            evs, run_id("ep"), config, quiet_since=since, marks_key="marks", marks=marks
        )
        return await script(keys=call.keys, args=call.args)

    await r.hset("marks", "odds:0", 0)
    assert await call(live, 0, 20) == [0] * 20
    first = await r.hgetall(keys.meta(game))
    assert await r.hget("marks", "odds:0") == b"20"
    # Redis holds less than the call needs (lost, or an older copy): nothing is applied.
    assert await call(rest, 21, 40) == [REFUSED]
    assert await r.hgetall(keys.meta(game)) == first

    pubsub = r.pubsub()
    await pubsub.psubscribe(keys.pubsub("*"))
    seconds, micros = await r.time()
    since = seconds * 1000 + micros // 1000
    history = await r.xlen(keys.history(game))
    assert await call(rest, 20, 40, since) == [0] * 20
    quiet = await r.hgetall(keys.meta(game))
    # Renumbered (its numbering began before the rebuild), no history, nothing published.
    assert quiet[b"epoch"] != first[b"epoch"]
    assert int(quiet[b"seq"]) == len(by_channel(rest)[game])
    assert history > 0 and await r.xlen(keys.history(game)) == 0
    assert (await _states(r))[game] == expected_states(live + rest)[game][1]
    # The same rebuild's next call keeps the epoch it began.
    assert await call(more[:10], 40, 50, since) == [0] * 10
    assert (await r.hgetall(keys.meta(game)))[b"epoch"] == quiet[b"epoch"]
    assert await _publications(pubsub) == []
    # Live again: published in that epoch; marks only rise.
    assert await call(more[10:], 0, 5) == [0] * 10
    assert await r.hget("marks", "odds:0") == b"50"
    seen = await _publications(pubsub)
    assert {epoch for ch, epoch, _, _ in seen if ch == game} == {quiet[b"epoch"].decode()}
    assert (await _states(r))[game] == expected_states(events)[game][1]
    await pubsub.aclose()
    await r.aclose()


def _held(proc: Proc) -> set[str]:
    """The partitions a worker positioned last (its assignment after the last rebalance)."""
    lines = [x for x in proc.logs() if x["message"] == "partitions positioned"]
    return set(lines[-1]["offsets"]) if lines else set()


async def test_two_workers_each_rebuild_their_own_partitions(stack, start_ingest, own_redis):
    """A worker joining mid-rebuild takes its share over from where the marks say; whatever
    the timing, the state comes back whole and nothing is published."""
    group, rid = run_id("fanout-two"), run_id("two")
    r, ends = await _applied_and_stopped(stack, start_ingest, own_redis, group, _feed(rid, 400))
    before = await _states(r)
    await r.flushall()
    pubsub = r.pubsub()
    await pubsub.psubscribe(keys.pubsub("*"))
    # Started together, with small script calls: the second joins while the first rebuilds
    # more often than not (the assertions hold either way).
    a, b = await asyncio.gather(
        *(
            start_ingest(name, REDIS_URL=own_redis, INGEST_GROUP_ID=group, INGEST_BATCH_MAX="2")
            for name in ("ingest-two-a", "ingest-two-b")
        )
    )
    for _ in range(300):
        if (
            _held(a)
            and _held(b)
            and not _held(a) & _held(b)
            and len(_held(a) | _held(b)) == len(ends)
        ):
            break
        await asyncio.sleep(0.2)
    assert not _held(a) & _held(b) and _held(a) | _held(b) == set(
        f"{f.split(':')[0]}-{f.split(':')[1]}" for f in ends
    )
    await _caught_up(r, group, ends, timeout=60)
    assert await _states(r) == before
    assert await _publications(pubsub) == []
    assert any(x["message"] == REBUILDING for x in [*a.logs(), *b.logs()])
    await a.stop()
    await b.stop()
    await pubsub.aclose()
    await r.aclose()
