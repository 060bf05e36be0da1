"""The Lua programs as files: named arguments matching their callers, shipped with the
package, loaded by the gateway without ingest, and exact about names that need escaping."""

from __future__ import annotations

import asyncio
import fnmatch
import re
import subprocess
import sys
import tomllib
import uuid
from importlib import resources

import orjson
import redis.asyncio as aioredis

from broadcaster import keys, publication, state
from broadcaster.ingest.redis_scripts import ApplyConfig, batch_call
from broadcaster.redis_lua import APPLY_LUA, ApplyArgs, EventArgs, SyncArgs
from inplay_events import decode
from tests.broadcaster.helpers import ROOT

_FIXED = re.compile(r"^local (\w+) = (?:tonumber\(|cjson\.decode\()?ARGV\[(\d+)\]", re.M)
_PER_EVENT = re.compile(r"^\s+local (\w+) = ARGV\[at(?: \+ (\d+))?\]", re.M)


def _lua(name: str) -> str:
    return resources.files("broadcaster.redis_lua").joinpath(name).read_text()


def _fixed_names(text: str) -> list[str]:
    found = [(int(i), name) for name, i in _FIXED.findall(text)]
    assert [i for i, _ in found] == list(range(1, len(found) + 1)), found
    return [name for _, name in found]


def test_every_argv_is_named_as_its_caller_names_it():
    apply = _lua("apply.lua")
    assert _fixed_names(apply) == list(ApplyArgs._fields)
    per_event = [(int(i or 0), name) for name, i in _PER_EVENT.findall(apply)]
    assert per_event == list(enumerate(EventArgs._fields))
    first, count = re.search(r"FIRST_EVENT_ARG, EVENT_ARGS = (\d+), (\d+)", apply).groups()
    assert (int(first), int(count)) == (len(ApplyArgs._fields) + 1, len(EventArgs._fields))
    sync = _lua("sync.lua")
    assert _fixed_names(sync) == list(SyncArgs._fields)
    # Its KEYS are a channel's keys in keys.channel_keys's order.
    names = re.findall(r"^local (\w+)_key = KEYS\[(\d)\]", sync, re.M)
    assert names == [("meta", "1"), ("state", "2"), ("history", "3")]
    assert keys.channel_keys("c") == (keys.meta("c"), keys.state("c"), keys.history("c"))
    # Both programs run the one numbering rule, loaded in front of them.
    assert APPLY_LUA.startswith(_lua("numbering.lua"))
    assert "numbering.epoch_to_publish(" in apply and "numbering.epoch_to_read(" in sync


def test_the_scripts_ship_as_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["broadcaster"]
    scripts = sorted((ROOT / "broadcaster" / "redis_lua").glob("*.lua"))
    assert len(scripts) == 3
    for path in scripts:
        relative = path.relative_to(ROOT / "broadcaster").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


def test_the_gateway_numbers_channels_without_importing_ingest():
    code = (
        "import sys, broadcaster.gateway.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('aiokafka', 'broadcaster.ingest'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


async def test_names_that_need_escaping_reach_the_right_keys_and_messages(stack):
    """Channel names and fields travel inside JSON arguments: quotes, backslashes, slashes,
    tabs and non-ASCII come out exactly as the event has them."""
    tag = uuid.uuid4().hex[:8]
    league, gid = f'Q"u\\o/te \t ü ⚽ {tag}', f'g"/\\{tag}'
    game = {
        "v": 1,
        "id": f"esc-{tag}",
        "game_id": gid,
        "ts": 1,
        "seq": 1,
        "type": "game",
        "kind": "scheduled",
        "status": "scheduled",
        "league": league,
        "sport": "football",
        "home": "A",
        "away": "B",
        "start_time": 5,
        "score": {"home": 0, "away": 0},
    }
    channel = f"league:{league}"
    r = aioredis.from_url(stack.redis_url)
    pubsub = r.pubsub()
    await pubsub.subscribe(keys.pubsub(channel))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    config = ApplyConfig(
        history_maxlen=10, history_ttl_ms=60_000, dedupe_ttl_ms=60_000, user_bets=5
    )
    call = batch_call([decode(game)], keys.new_epoch(), config)
    assert await r.register_script(APPLY_LUA)(keys=call.keys, args=call.args) == [0]
    stored = await r.hget(keys.state(channel), gid)
    assert orjson.loads(stored) == state.game_object(game)
    assert await r.hexists(keys.state(f"game:{gid}"), "game")
    [(_, entry)] = await r.xrange(keys.history(channel))
    _, seq, *_, message = publication.split(entry[b"m"])
    assert seq == 1 and orjson.loads(message)["channel"] == channel
    published = None
    async with asyncio.timeout(5):
        while published is None:
            published = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
    assert published["data"] == entry[b"m"]
    await pubsub.aclose()
    await r.aclose()
